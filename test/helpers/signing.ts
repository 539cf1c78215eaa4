import { createHmac, KeyObject, sign as signBytes } from 'node:crypto';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JSONWebKeySet, type JWK, type JWTPayload } from 'jose';

/** A signing key pair with its kid and public JWK, as an identity provider holds it. */
export interface SigningKey {
  readonly kid: string;
  readonly alg: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
  readonly publicPem: string;
}

/** A fresh key pair for `alg` (RS256, ES256, ...). */
export async function signingKey(kid: string, alg = 'ES256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk, publicPem: await exportSPKI(publicKey) };
}

/** The JWKS document publishing these keys. */
export function jwks(...keys: readonly SigningKey[]): JSONWebKeySet {
  return { keys: keys.map((k) => k.publicJwk) };
}

export interface SignOptions {
  readonly issuer: string;
  readonly audience?: string;
  /** Seconds from now; negative for an expired token. */
  readonly expiresIn?: number;
  readonly notBefore?: number;
  readonly header?: Record<string, unknown>;
  readonly kid?: string;
  readonly now?: number;
}

/** A signed compact JWT. */
export function sign(key: SigningKey, claims: JWTPayload, options: SignOptions): Promise<string> {
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: options.kid ?? key.kid, ...options.header })
    .setIssuer(options.issuer)
    .setIssuedAt(now)
    .setExpirationTime(now + (options.expiresIn ?? 300));
  if (options.audience !== undefined) jwt.setAudience(options.audience);
  if (options.notBefore !== undefined) jwt.setNotBefore(now + options.notBefore);
  return jwt.sign(key.privateKey);
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An unsigned token (`alg: none`). */
export function unsecured(claims: JWTPayload): string {
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
}

/** The classic key-confusion token: HS256, with the issuer's public key (PEM) as the HMAC secret. */
export function hmacWithPublicKey(key: SigningKey, claims: JWTPayload): string {
  const input = `${b64({ alg: 'HS256', kid: key.kid, typ: 'JWT' })}.${b64(claims)}`;
  return `${input}.${createHmac('sha256', key.publicPem).update(input).digest('base64url')}`;
}

/** The token with its payload replaced and its original signature kept. */
export function withPayload(token: string, claims: JWTPayload): string {
  const [header, , signature] = token.split('.');
  return `${header}.${b64(claims)}.${signature}`;
}

/** A JWT signed by hand, with any header at all (jose refuses to sign some, such as unknown `crit`). */
export function signRaw(key: SigningKey, header: Record<string, unknown>, claims: JWTPayload): string {
  const input = `${b64({ alg: key.alg, kid: key.kid, ...header })}.${b64(claims)}`;
  const keyObject = KeyObject.from(key.privateKey);
  const signature = key.alg.startsWith('ES') ? signBytes('sha256', Buffer.from(input), { key: keyObject, dsaEncoding: 'ieee-p1363' }) : signBytes('sha256', Buffer.from(input), keyObject);
  return `${input}.${signature.toString('base64url')}`;
}
