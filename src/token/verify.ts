import { readFile } from 'node:fs/promises';
import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { Claims } from './claims.js';
import { InvalidTokenError } from './errors.js';

/** Turns a compact token into verified claims, or throws InvalidTokenError. */
export interface TokenVerifier {
  verify(token: string): Promise<Claims>;
}

export interface JwtVerifierOptions {
  readonly keys: JWTVerifyGetKey;
  readonly issuer: string;
  readonly audience: readonly string[];
  readonly algorithms: readonly string[];
  /** Allowed clock skew, seconds. */
  readonly clockTolerance?: number;
  readonly maxTokenLength?: number;
}

/** Algorithms accepted unless configured otherwise: asymmetric only, never `none` or HMAC. */
export const defaultAlgorithms = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;

function describe(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'token expired';
  if (error instanceof errors.JWTClaimValidationFailed) return `claim "${error.claim}" invalid: ${error.reason}`;
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'signature verification failed';
  if (error instanceof errors.JWKSNoMatchingKey) return 'no matching key in the key set';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (error instanceof errors.JWKSTimeout) return 'key set fetch timed out';
  if (error instanceof errors.JOSEError) return `${error.code}: ${error.message}`;
  // A key server that cannot be reached fails inside fetch, with its TypeError, not a JOSEError.
  if (error instanceof TypeError && error.message === 'fetch failed') return 'key set unavailable';
  return 'token could not be verified';
}

/** A JWT verifier pinned to one issuer, its audiences and an algorithm allowlist. */
export function createJwtVerifier(options: JwtVerifierOptions): TokenVerifier {
  const maxTokenLength = options.maxTokenLength ?? 16_384;
  const verifyOptions = {
    issuer: options.issuer,
    audience: [...options.audience],
    algorithms: [...options.algorithms],
    clockTolerance: options.clockTolerance ?? 30,
  };
  return {
    async verify(token) {
      if (token.length > maxTokenLength) throw new InvalidTokenError(`token longer than ${maxTokenLength} characters`);
      try {
        const { payload } = await jwtVerify(token, options.keys, verifyOptions);
        return payload;
      } catch (error) {
        throw new InvalidTokenError(describe(error), { cause: error });
      }
    },
  };
}

/** A key set from a local JWKS document. */
export async function localKeySet(path: string): Promise<JWTVerifyGetKey> {
  return createLocalJWKSet(JSON.parse(await readFile(path, 'utf8')));
}

/** A key set fetched from a URL and cached by jose. */
export function remoteKeySet(url: string): JWTVerifyGetKey {
  return createRemoteJWKSet(new URL(url), { timeoutDuration: 2_000, cooldownDuration: 30_000 });
}
