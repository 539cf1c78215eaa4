import { z } from 'zod';
import { codePoint, exactNameProblem, refusedBy } from './exact-name.js';

/** Why it matters: a claim is read from a token by its name (or each name of its dotted path), matched exactly. */
const consequence = 'a token\'s claims are found by their exact name, so no token would hold this one';

/**
 * Why `name`, the name or dotted path of a claim the service reads (the subject, roles, scopes,
 * an issuer's `audienceClaim`), can name no claim a token holds, or undefined when it can: see
 * `exactNameProblem`. A claim's name is any JSON member name, so `cognito:groups`,
 * `https://invoice.example.com/roles`, `realm_access.roles` and names with spaces within (not next to a dot) are taken; a path with an empty name (a stray dot) is not.
 */
export function claimNameProblem(name: string): string | undefined {
  const problem = exactNameProblem(name) ?? dottedPathProblem(name) ?? emptyNameProblem(name);
  return problem === undefined ? undefined : `${problem}; ${consequence}`;
}

/** Whitespace around a name of a dotted path (`realm_access. roles`), as `exactNameProblem` refuses around the whole. */
function dottedPathProblem(name: string): string | undefined {
  const found = /(\s)\.|\.(\s)/u.exec(name);
  if (found === null) return undefined;
  const space = found[1] ?? found[2] ?? '';
  return `has whitespace next to a dot of its path (${codePoint(space)})`;
}

/**
 * An empty name in a dotted path (`realm_access.roles.`, `a..b`, `.roles`): a stray or doubled dot,
 * which no issuer writes into a claim's name, and which reads no claim of the path meant.
 */
function emptyNameProblem(name: string): string | undefined {
  return name.split('.').includes('') ? 'has an empty name in its dotted path (a dot at its start or end, or two dots in a row)' : undefined;
}

/** A claim name of TOKEN_CONFIG_FILE or CLAIM_SUBJECT, refused as `claimNameProblem` says. */
export const claimName = refusedBy(claimNameProblem);

/**
 * The one claim holding the subject id (CLAIM_SUBJECT, an issuer's `claims.subject`), where the
 * roles and scopes take lists, named by `lists`: `sub,client_id` was read as the one name
 * `sub,client_id`, and every token denied as naming no subject.
 */
export const subjectClaimName = (lists: string) => z.string()
  .refine((name) => !name.includes(','), `names one claim, and a comma is read as part of its name, which no token holds: give the one claim holding the subject id (${lists} take lists)`)
  .pipe(claimName);
