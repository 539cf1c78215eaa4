import { expiryMs, tokenKey, validFromMs, type ExpiringCache } from './cache.js';
import type { Claims } from './claims.js';
import type { TokenVerifier } from './verify.js';

/**
 * Remembers verified tokens, keyed on the hash of the whole compact token, until the earlier
 * of the token's `exp` and the cache's maximum age, from its `nbf` and `iat` (less
 * `clockTolerance`, seconds, as the verification allows): a clock stepped back before them has the
 * token verified again, and refused as an uncached one is. Refusals are not remembered: a bad token
 * is cheap to refuse again, and a remembered refusal could outlive a key rotation. A
 * verification made before a key set fetch that left out a key held is made again (see
 * ExpiringCacheOptions.generation), so a token whose key is gone is refused from then on, cached
 * or not.
 */
export function cachedVerifier(inner: TokenVerifier, cache: ExpiringCache<Claims>, clockTolerance: number): TokenVerifier {
  return {
    async verify(token) {
      const key = tokenKey(token);
      const generation = cache.generation();
      const hit = cache.get(key);
      if (hit !== undefined) return hit;
      const claims = await inner.verify(token);
      cache.set(key, claims, { from: validFromMs(claims, clockTolerance), until: expiryMs(claims) }, generation);
      return claims;
    },
  };
}
