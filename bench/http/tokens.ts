import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { subjects, type Claims } from '../workload.js';

export const issuer = 'https://idp.bench.invoice-pdp.local';
export const audience = 'invoice-pdp';

/** Signed tokens for every workload subject, per algorithm, and the JWKS file that verifies them. */
export interface BenchTokens {
  readonly jwksFile: string;
  /** subject id → compact JWT, per algorithm. */
  readonly jwt: Readonly<Record<'ES256' | 'RS256', ReadonlyMap<string, string>>>;
  /** subject id → opaque token, and opaque token → claims for the introspection server. */
  readonly opaque: ReadonlyMap<string, string>;
  readonly opaqueClaims: ReadonlyMap<string, Claims>;
}

async function sign(alg: 'ES256' | 'RS256', key: CryptoKey, kid: string, id: string, claims: Claims): Promise<string> {
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg, kid, typ: 'JWT' })
    .setSubject(id)
    .setIssuer(issuer)
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(key);
}

/** Generates an ES256 and an RS256 key, writes their JWKS into `dir`, and signs the tokens. */
export async function makeTokens(dir: string): Promise<BenchTokens> {
  const es = await generateKeyPair('ES256');
  const rs = await generateKeyPair('RS256', { modulusLength: 2048 });
  const keys = [
    { ...(await exportJWK(es.publicKey)), kid: 'bench-es256', alg: 'ES256', use: 'sig' },
    { ...(await exportJWK(rs.publicKey)), kid: 'bench-rs256', alg: 'RS256', use: 'sig' },
  ];
  const jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys }));
  const es256 = new Map<string, string>();
  const rs256 = new Map<string, string>();
  const opaque = new Map<string, string>();
  const opaqueClaims = new Map<string, Claims>();
  for (const { id, claims } of subjects()) {
    es256.set(id, await sign('ES256', es.privateKey, 'bench-es256', id, claims));
    rs256.set(id, await sign('RS256', rs.privateKey, 'bench-rs256', id, claims));
    const token = randomBytes(32).toString('base64url');
    opaque.set(id, token);
    opaqueClaims.set(token, { sub: id, ...claims });
  }
  return { jwksFile, jwt: { ES256: es256, RS256: rs256 }, opaque, opaqueClaims };
}
