import { expiryMs, tokenKey, type ExpiringCache } from './cache.js';
import type { Claims } from './claims.js';
import type { TokenVerifier } from './verify.js';

/** A verification the cache holds: its claims, and the key removals counted when it began. */
export interface VerifiedToken {
  readonly claims: Claims;
  readonly keyRemovals: number;
}

/**
 * Remembers verified tokens, keyed on the hash of the whole compact token, until the earlier
 * of the token's `exp` and the cache's maximum age. Refusals are not remembered: a bad token
 * is cheap to refuse again, and a remembered refusal could outlive a key rotation.
 * `keyRemovals` counts the key set fetches that left out a key held before (see
 * RemoteKeySetOptions.onKeyRemoved): a verification from before one is made again, so a token
 * whose key is gone is refused from then on, cached or not. It is read before the verification
 * starts, so one that a removal overtakes is not taken for newer than it is.
 */
export function cachedVerifier(inner: TokenVerifier, cache: ExpiringCache<VerifiedToken>, keyRemovals: () => number = () => 0): TokenVerifier {
  return {
    async verify(token) {
      const key = tokenKey(token);
      const removals = keyRemovals();
      const hit = cache.get(key);
      if (hit !== undefined && hit.keyRemovals === removals) return hit.claims;
      const claims = await inner.verify(token);
      cache.set(key, { claims, keyRemovals: removals }, expiryMs(claims));
      return claims;
    },
  };
}
