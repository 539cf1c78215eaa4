import { refusedBy } from './exact-name.js';
import { stringOrUriProblem } from './string-or-uri.js';

/** Why it matters: a token is taken only when its audience claim equals one accepted. */
const consequence = 'a token\'s audience is compared exactly, so no token would be accepted for this one';

/**
 * Why `audience` can be no token's `aud` (or the claim an issuer's `audienceClaim` names), or
 * undefined when it can: what no StringOrURI can be (see `stringOrUriProblem`). Any URL, an
 * `api://` id, a URN, a plain name or a client id is taken: an `aud` is whatever its API is
 * registered as.
 */
export function audienceProblem(audience: string): string | undefined {
  const problem = stringOrUriProblem(audience, 'an audience');
  return problem === undefined ? undefined : `${problem}; ${consequence}`;
}

/** An audience of TOKEN_CONFIG_FILE, refused as `audienceProblem` says. */
export const audienceName = refusedBy(audienceProblem);
