import type { z } from 'zod';
import { nearestName } from '../nearest-name.js';

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
        const meant = nearestName(key, known);
        return meant === undefined ? `"${key}"` : `"${key}" (did you mean "${meant}"?)`;
      });
      return `Unrecognized key${keys.length > 1 ? 's' : ''}: ${keys.join(', ')}: ${what} takes ${listed(known)}`;
    },
  };
}
