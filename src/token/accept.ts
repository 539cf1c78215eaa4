import { findLimitViolation } from '../json-limits.js';
import { jsonPath } from '../policy/json-path.js';
import type { ClaimMapper, Claims } from './claims.js';
import type { BindingCheck } from './binding.js';
import { InvalidTokenError } from './errors.js';

/**
 * What verified claims must also meet before a token counts as valid: no sender constraint
 * unless it is taken (`binding`, see `bindingProblem`), the JSON limits of a request body
 * (conditions are costed against them), and a subject id under the claim mapping (without one,
 * rules comparing ids, such as an approver who is not the submitter, would read "" or a blank
 * that entity data never holds).
 * Throws InvalidTokenError, so the token is refused and counted as invalid, never as valid.
 */
export function claimsCheck(mapClaims: ClaimMapper, binding: BindingCheck): (claims: Claims) => void {
  // The token caches hand out the claims they verified, the same frozen object each time: a
  // cached token's claims are walked and mapped once, not on every request that presents it.
  const accepted = new WeakSet<Claims>();
  return (claims) => {
    if (accepted.has(claims)) return;
    const bound = binding(claims);
    if (bound !== undefined) throw new InvalidTokenError(bound);
    const overLimit = findLimitViolation(claims);
    if (overLimit !== undefined) throw new InvalidTokenError(`claims beyond the limits: ${jsonPath(overLimit.path)} ${overLimit.message}`);
    if (mapClaims(claims).id === '') throw new InvalidTokenError('token names no subject: its subject claim is missing, not a string, or empty or blank (only whitespace, control or invisible characters)');
    accepted.add(claims);
  };
}
