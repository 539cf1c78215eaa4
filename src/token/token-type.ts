import { exactNameProblem, refusedBy } from './exact-name.js';

/** Why it matters: a token is taken only when its `typ` header is the one required. */
const consequence = 'a token\'s "typ" header is compared exactly (but for case and an "application/" prefix), so every token of this issuer would be denied';

/**
 * Why `type`, the `typ` header an issuer's tokens must carry (JWT_TYPE, an issuer's `type` in
 * TOKEN_CONFIG_FILE), can be no token's, or undefined when it can: see `exactNameProblem`.
 */
function tokenTypeProblem(type: string): string | undefined {
  // Written as a list (`at+jwt,JWT`, as JWT_ALGORITHMS takes one), it was taken as one type that
  // no token carries: a media type holds no comma.
  const problem = exactNameProblem(type) ?? (type.includes(',') ? 'holds a comma, so it is read as one type rather than a list of them: give the one type its tokens carry' : undefined);
  return problem === undefined ? undefined : `${problem}; ${consequence}`;
}

/** A required `typ`, refused as `tokenTypeProblem` says. */
export const tokenType = refusedBy(tokenTypeProblem);
