import type { Claims } from './claims.js';
import { InvalidTokenError, TokenCheckUnavailableError } from './errors.js';
import type { TokenObserver } from './observer.js';
import type { TokenVerifier } from './verify.js';

export interface TokenVerifierParts {
  /** Verifies JWTs (compact JWS: three base64url segments). */
  readonly jwt?: TokenVerifier;
  /** Looks up every other (opaque) token, and JWTs too when `jwt` is not set. */
  readonly introspection?: TokenVerifier;
  readonly observer?: TokenObserver;
  /** Longer tokens are refused before any parsing or network call. */
  readonly maxTokenLength?: number;
  /** What verified claims must also meet to count as valid (see `claimsCheck`); throws InvalidTokenError. */
  readonly accept?: (claims: Claims) => void;
}

const compactJws = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** True when the token has the shape of a compact JWS (header.payload.signature). */
function looksLikeJwt(token: string): boolean {
  return compactJws.test(token);
}

/**
 * The `Bearer` (RFC 6750 §2.1) or `DPoP` (RFC 9449 §7.1) scheme, any letter case, that goes
 * before a token in an Authorization header, left on by a gateway passing on the header's value.
 * A token sent there is a b64token, which holds no space: a value beginning so is no token a JWT
 * check or introspection could take, and is refused without either, the caller told to send the
 * token alone. A DPoP-bound token sent alone is then refused as any sender-constrained one is,
 * unless the gateway checks its proof (see `bindingProblem`).
 */
const headerSchemes = ['Bearer', 'DPoP'].map((name) => ({ name, pattern: new RegExp(`^${name} `, 'i') }));

/** Why `token` cannot be one, if it begins with the scheme of an Authorization header (see `headerSchemes`). */
function schemeProblem(token: string): string | undefined {
  const scheme = headerSchemes.find(({ pattern }) => pattern.test(token));
  return scheme === undefined ? undefined : `token begins with the "${scheme.name} " scheme of an Authorization header: send the token alone, without it`;
}

function resultOf(error: unknown): 'invalid' | 'error' {
  return error instanceof TokenCheckUnavailableError || !(error instanceof InvalidTokenError) ? 'error' : 'invalid';
}

/**
 * The one token entry point: JWTs go to local verification, anything else to introspection.
 * Without local verification, JWTs are introspected too: many authorization servers issue their
 * access tokens as JWTs and answer introspection for them, which also sees a revoked one.
 * Every attempt is reported to the observer exactly once, as valid only when the claims pass
 * `accept` too; an unexpected failure becomes
 * TokenCheckUnavailableError, so a token problem is always a deny and never a 500.
 */
export function createTokenVerifier(parts: TokenVerifierParts): TokenVerifier {
  const maxTokenLength = parts.maxTokenLength ?? 8_192;
  const report = (kind: 'jwt' | 'introspection', result: 'valid' | 'invalid' | 'error') => {
    try {
      parts.observer?.tokenVerification(kind, result);
    } catch {
      // Metrics never change a decision.
    }
  };
  return {
    async verify(token) {
      const jwtShaped = looksLikeJwt(token);
      const kind = jwtShaped && (parts.jwt !== undefined || parts.introspection === undefined) ? 'jwt' : 'introspection';
      try {
        if (token.length > maxTokenLength) throw new InvalidTokenError(`token longer than ${maxTokenLength} characters`);
        const scheme = schemeProblem(token);
        if (scheme !== undefined) throw new InvalidTokenError(scheme);
        const verifier = kind === 'jwt' ? parts.jwt : parts.introspection;
        if (verifier === undefined) {
          throw new InvalidTokenError(jwtShaped ? 'no JWT issuer or introspection endpoint is configured' : 'token is not a JWT and no introspection endpoint is configured');
        }
        const claims = await verifier.verify(token);
        parts.accept?.(claims);
        report(kind, 'valid');
        return claims;
      } catch (error) {
        report(kind, resultOf(error));
        if (error instanceof InvalidTokenError) throw error;
        throw new TokenCheckUnavailableError('token check failed unexpectedly', { cause: error });
      }
    },
  };
}
