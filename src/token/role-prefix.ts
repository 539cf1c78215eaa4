import { refusedBy, unseenCharacterProblem } from './exact-name.js';

/** Why it matters: a prefix is cut only from a role that begins with it exactly. */
const consequence = 'a prefix is cut from a role only when the role begins with it exactly, so no role would lose this one, and rules naming the roles without it would never match';

/**
 * Why `prefix`, one to cut from role names (CLAIM_ROLE_PREFIXES, an issuer's `rolePrefixes`),
 * can begin no role, or undefined when it can: see `unseenCharacterProblem`. Whitespace is taken,
 * around it too: a group name holding spaces (`Invoice Accountant`) may lose `Invoice `.
 */
export function rolePrefixProblem(prefix: string): string | undefined {
  const problem = unseenCharacterProblem(prefix);
  return problem === undefined ? undefined : `${problem}; ${consequence}`;
}

/** A role prefix of TOKEN_CONFIG_FILE, refused as `rolePrefixProblem` says. */
export const rolePrefix = refusedBy(rolePrefixProblem);
