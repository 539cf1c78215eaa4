import type { z } from 'zod';

/** Edits (insert, delete, replace a character, or swap two neighbours) that make `a` into `b`, case aside. */
function editDistance(a: string, b: string): number {
  const from = [...a.toLowerCase()];
  const to = [...b.toLowerCase()];
  const rows = from.map(() => new Array<number>(to.length + 1).fill(0));
  const at = (i: number, j: number): number => (i < 0 ? j + 1 : j < 0 ? i + 1 : (rows[i]?.[j] ?? 0));
  for (let i = 0; i < from.length; i++) {
    for (let j = 0; j < to.length; j++) {
      const replace = at(i - 1, j - 1) + (from[i] === to[j] ? 0 : 1);
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, replace);
      if (i > 0 && j > 0 && from[i] === to[j - 1] && from[i - 1] === to[j]) best = Math.min(best, at(i - 2, j - 2) + 1);
      (rows[i] as number[])[j] = best;
    }
  }
  return at(from.length - 1, to.length - 1);
}

/** The member of `known` that `key` most likely misspells: within two edits (one for a short name), the nearest first. */
function nearest(key: string, known: readonly string[]): string | undefined {
  let found: { readonly name: string; readonly edits: number } | undefined;
  for (const name of known) {
    const edits = editDistance(key, name);
    if (edits <= (name.length <= 4 ? 1 : 2) && (found === undefined || edits < found.edits)) found = { name, edits };
  }
  return found?.name;
}

/** `names` as a list in prose: `a, b and c`. */
function listed(names: readonly string[]): string {
  return names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names.at(-1) ?? ''}`;
}

/**
 * The error of a strict object of a policy, entity or test file, `what` (`a rule`), whose members
 * are `known`: a key it does not take is named with the member it most likely misspells and with
 * every member the object takes. zod said `Unrecognized key: "condtion"` alone, which left the
 * author to find the spelling the loader wanted in the README.
 */
export function unknownKeys(what: string, known: readonly string[]): { error: (issue: z.core.$ZodRawIssue) => string | undefined } {
  return {
    error: (issue) => {
      if (issue.code !== 'unrecognized_keys') return undefined;
      const keys = issue.keys.map((key) => {
        const meant = nearest(key, known);
        return meant === undefined ? `"${key}"` : `"${key}" (did you mean "${meant}"?)`;
      });
      return `Unrecognized key${keys.length > 1 ? 's' : ''}: ${keys.join(', ')}: ${what} takes ${listed(known)}`;
    },
  };
}
