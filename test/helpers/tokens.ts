import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

/** Algorithms the tests sign with; all three are in the default allowlist. */
export type TestAlgorithm = 'RS256' | 'ES256' | 'EdDSA';

export interface SigningKey {
  readonly alg: TestAlgorithm;
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly publicJwk: JWK;
}

/** A key pair made for the test run, with its public half as a JWK. */
export async function makeKey(alg: TestAlgorithm, kid = `test-${alg.toLowerCase()}`): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, kid, privateKey, publicKey, publicJwk };
}

/** A JWKS document holding the public halves of `keys`. */
export function jwks(keys: readonly SigningKey[]): { keys: JWK[] } {
  return { keys: keys.map((k) => k.publicJwk) };
}

export const testIssuer = 'https://idp.test';
export const testAudience = 'invoice-api';

export interface SignOptions {
  readonly iss?: string;
  readonly aud?: string | string[];
  readonly expiresIn?: number;
  readonly notBefore?: number;
  /** Seconds from now the token says it was issued at (now when unset). */
  readonly issuedAt?: number;
  readonly kid?: string;
}

/** Signs a JWT with `key`, issuer and audience valid by default, expiring in 5 minutes. */
export function sign(key: SigningKey, claims: JWTPayload, options: SignOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: options.kid ?? key.kid, typ: 'JWT' })
    .setIssuer(options.iss ?? testIssuer)
    .setAudience(options.aud ?? testAudience)
    .setIssuedAt(now + (options.issuedAt ?? 0))
    .setExpirationTime(now + (options.expiresIn ?? 300));
  if (options.notBefore !== undefined) jwt.setNotBefore(now + options.notBefore);
  return jwt.sign(key.privateKey);
}
