import { z } from 'zod';

/** One case of certification/certification-1_0-cases.DERIVED.json. */
const certificationCaseSchema = z.object({
  id: z.string(),
  label: z.string(),
  method: z.string(),
  endpoint: z.string(),
  headers: z.record(z.string(), z.string()),
  request: z.unknown(),
  expected: z.object({
    status: z.number(),
    decision: z.boolean().optional(),
    evaluations: z.array(z.object({ decision: z.boolean() })).optional(),
    results_must_include: z.array(z.record(z.string(), z.unknown())).optional(),
    extra_results_allowed: z.boolean().optional(),
    results_exact: z.array(z.record(z.string(), z.unknown())).optional(),
    structure_only: z.boolean().optional(),
    evaluations_length: z.number().optional(),
  }),
});

export const certificationFileSchema = z.object({ cases: z.array(certificationCaseSchema).min(1, 'no vectors') });

export type CertificationCase = z.infer<typeof certificationCaseSchema>;

/** A JSON object (not an array, not null). */
export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const key = (value: unknown): string => JSON.stringify(value);

function searchStructure(body: Record<string, unknown>): string | undefined {
  if (!Array.isArray(body['results'])) return 'results is not an array';
  const page = body['page'];
  if (page !== undefined && !(isRecord(page) && typeof page['next_token'] === 'string')) {
    return 'page is not an object with a string next_token';
  }
  return undefined;
}

/**
 * Judges one certification case as the scenario describes it: the HTTP status, then the one
 * expectation it carries. Batch items are judged on their decision values only (a context is
 * allowed); search results must match element for element as JSON (so `{type, id}` in that
 * key order, or `{name}`), and results_exact compares the lists in any order, duplicates counted.
 * Returns undefined on a pass, else why it failed.
 */
export function judgeCertification(testCase: CertificationCase, status: number, body: unknown): string | undefined {
  const { expected } = testCase;
  if (status !== expected.status) return `status ${status}, expected ${expected.status}`;
  if (expected.status !== 200) return undefined;
  if (!isRecord(body)) return 'the body is not a JSON object';
  if (expected.decision !== undefined) {
    return body['decision'] === expected.decision ? undefined : `decision ${key(body['decision'])}, expected ${expected.decision}`;
  }
  if (expected.evaluations !== undefined) {
    const items = body['evaluations'];
    if (!Array.isArray(items)) return 'evaluations is not an array';
    const decisions = items.map((item: unknown) => (isRecord(item) ? item['decision'] : undefined));
    const wanted = expected.evaluations.map((item) => item.decision);
    return key(decisions) === key(wanted) ? undefined : `decisions ${key(decisions)}, expected ${key(wanted)}`;
  }
  if (expected.results_must_include !== undefined || expected.results_exact !== undefined) {
    const problem = searchStructure(body);
    if (problem !== undefined) return problem;
    const results = (body['results'] as unknown[]).map(key);
    const wanted = (expected.results_exact ?? expected.results_must_include ?? []).map(key);
    const missing = wanted.filter((w) => !results.includes(w));
    if (missing.length > 0) return `results lack ${missing.join(', ')}`;
    const exact = expected.results_exact !== undefined || expected.extra_results_allowed === false;
    if (!exact) return undefined;
    // Each wanted result accounts for one answered: a result answered twice is one too many.
    const extra = [...results];
    for (const w of wanted) {
      const at = extra.indexOf(w);
      if (at !== -1) extra.splice(at, 1);
    }
    return extra.length > 0 ? `unexpected results ${extra.join(', ')}` : undefined;
  }
  if (expected.structure_only === true) {
    if (expected.evaluations_length !== undefined) {
      const items = body['evaluations'];
      if (!Array.isArray(items) || items.length !== expected.evaluations_length) return `expected ${expected.evaluations_length} evaluations`;
      if (!items.every((item: unknown) => isRecord(item) && typeof item['decision'] === 'boolean')) return 'an item lacks a boolean decision';
      return undefined;
    }
    return testCase.endpoint.startsWith('/access/v1/search/') ? searchStructure(body) : undefined;
  }
  return 'the case states no expectation this runner knows';
}
