/**
 * How the official AuthZEN interop runners decide PASS, reproduced exactly (see the vectors'
 * README.txt): they read the JSON body, not the status code (main.ts fails a reply other than a
 * 200 before judging it); a body that is not JSON is an ERROR, which counts as a failure.
 */

function member(body: unknown, key: string): unknown {
  if (body === null || body === undefined) throw new TypeError(`cannot read "${key}" of ${String(body)}`);
  return typeof body === 'object' ? (body as Record<string, unknown>)[key] : undefined;
}

/** Todo and gateway runners, one evaluation: `JSON.stringify(expected) === JSON.stringify(body.decision || false)`. */
export function judgeEvaluation(body: unknown, expected: unknown): boolean {
  return JSON.stringify(expected) === JSON.stringify(member(body, 'decision') || false);
}

/** Todo runner, a batch: the `evaluations` array must serialise exactly like the expected one. */
export function judgeEvaluations(body: unknown, expected: unknown): boolean {
  return JSON.stringify(expected) === JSON.stringify(member(body, 'evaluations') || []);
}

interface Sortable {
  readonly type?: unknown;
  readonly id?: unknown;
  readonly name?: unknown;
}

function text(value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`expected a string, got ${JSON.stringify(value)}`);
  return value;
}

function sortResults(items: readonly Sortable[]): Sortable[] {
  return [...items].sort((a, b) => {
    if (a.type) {
      if (a.type !== b.type) return text(a.type).localeCompare(text(b.type));
      return text(a.id).localeCompare(text(b.id));
    }
    return text(a.name).localeCompare(text(b.name));
  });
}

const dropNulls = (_key: string, value: unknown): unknown => (value === null ? undefined : value);

/**
 * Search runner: `results` of both sides sorted by (type, id) or name, then compared as JSON
 * with nulls dropped. Key order and extra keys therefore matter; `page` and `context` do not.
 */
export function judgeSearch(body: unknown, expected: unknown): boolean {
  const actual = member(body, 'results') || [];
  const wanted = member(expected, 'results') || [];
  if (!Array.isArray(actual) || !Array.isArray(wanted)) return false;
  return JSON.stringify(sortResults(actual), dropNulls) === JSON.stringify(sortResults(wanted), dropNulls);
}
