import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { tokensFromConfig, type Tokens } from '../src/token/from-config.js';
import type { TokenObserver } from '../src/token/observer.js';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { startJwksServer, type JwksServer } from './helpers/jwks-server.js';
import { hmacWithPublicKey, jwks, sign, signingKey, signRaw, unsecured, withPayload, type SigningKey } from './helpers/signing.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

const issuerA = 'https://idp-a.test/realms/finance';
const issuerB = 'https://idp-b.test/';
const audience = 'invoice-api';
const claims = { sub: 'alice', roles: ['accountant'], scope: 'invoice.read', region: 'EU' };
const question = {
  action: 'read',
  resource: { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'EU' } },
};

class CountingObserver implements TokenObserver {
  readonly seen: string[] = [];
  tokenVerification(kind: 'jwt' | 'introspection', result: 'valid' | 'invalid' | 'error'): void {
    this.seen.push(`${kind}:${result}`);
  }
}

describe('JWT attacks (two issuers, each pinned to its own JWKS server)', () => {
  let dir: string;
  let serverA: JwksServer;
  let serverB: JwksServer;
  let keyA: SigningKey;
  let keyB: SigningKey;
  let pssB: SigningKey;
  let tokens: Tokens;
  let app: App;
  const observer = new CountingObserver();
  const now = () => Math.floor(Date.now() / 1000);

  beforeAll(async () => {
    keyA = await signingKey('a-1', 'RS256');
    keyB = await signingKey('b-1', 'ES256');
    pssB = await signingKey('b-2', 'PS256');
    serverA = await startJwksServer(jwks(keyA));
    serverB = await startJwksServer({ keys: [keyB.publicJwk, { ...pssB.publicJwk, alg: undefined }] });
    dir = await mkdtemp(join(tmpdir(), 'pdp-jwt-'));
    const file = join(dir, 'tokens.json');
    await writeFile(
      file,
      JSON.stringify({
        issuers: [
          { issuer: issuerA, jwksUrl: serverA.url, audience },
          { issuer: issuerB, jwksUrl: serverB.url, audience: [audience], algorithms: ['ES256', 'RS256'], type: 'at+jwt' },
        ],
      }),
    );
    tokens = await tokensFromConfig(loadConfig({ TOKEN_CONFIG_FILE: file, JWKS_COOLDOWN_SECONDS: '0' }), { observer });
    ({ app } = await buildTestApp({ tokens: tokens.verifier, claims: tokens.claims }));
  });

  afterAll(async () => {
    tokens.close();
    await Promise.all([serverA.close(), serverB.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  const decide = async (token: string) => readJson(await postJson(app, '/decide', { token, ...question }));

  it('permits a valid token of either issuer', async () => {
    const fromA = await sign(keyA, claims, { issuer: issuerA, audience });
    const fromB = await sign(keyB, claims, { issuer: issuerB, audience, header: { typ: 'at+jwt' } });
    expect(await decide(fromA)).toMatchObject({ decision: 'permit' });
    expect(await decide(fromB)).toMatchObject({ decision: 'permit' });
  });

  const attacks: Record<string, () => Promise<string> | string> = {
    'alg none': () => unsecured({ ...claims, iss: issuerA, aud: audience, exp: now() + 300 }),
    'HS256 signed with the RSA public key': () => hmacWithPublicKey(keyA, { ...claims, iss: issuerA, aud: audience, exp: now() + 300 }),
    "kid pointing to another issuer's key": () => sign(keyB, claims, { issuer: issuerA, audience, kid: keyB.kid }),
    "a forger's key under the issuer's kid": async () => sign(await signingKey(keyA.kid, 'RS256'), claims, { issuer: issuerA, audience }),
    "claiming issuer B, signed with issuer A's key": () => sign(keyA, claims, { issuer: issuerB, audience, header: { typ: 'at+jwt' } }),
    expired: () => sign(keyA, claims, { issuer: issuerA, audience, expiresIn: -600 }),
    'nbf in the future': () => sign(keyA, claims, { issuer: issuerA, audience, notBefore: 600 }),
    'wrong audience': () => sign(keyA, claims, { issuer: issuerA, audience: 'another-api' }),
    'no audience': () => sign(keyA, claims, { issuer: issuerA }),
    'unknown issuer': () => sign(keyA, claims, { issuer: 'https://evil.test/', audience }),
    'no issuer': () => signRaw(keyA, {}, { ...claims, aud: audience, exp: now() + 300 }),
    'tampered payload with the original signature (original verified and cached first)': async () => {
      const original = await sign(keyA, claims, { issuer: issuerA, audience });
      expect(await decide(original)).toMatchObject({ decision: 'permit' });
      return withPayload(original, { ...claims, roles: ['finance_manager'], scope: 'invoice.admin', iss: issuerA, aud: audience, exp: now() + 300 });
    },
    'signature stripped': async () => `${(await sign(keyA, claims, { issuer: issuerA, audience })).split('.').slice(0, 2).join('.')}.`,
    'oversized token (over TOKEN_MAX_LENGTH, under the body limit)': () => sign(keyA, { ...claims, padding: 'x'.repeat(9_000) }, { issuer: issuerA, audience }),
    'unknown crit header': () => signRaw(keyA, { crit: ['urn:example:must-understand'], 'urn:example:must-understand': true }, { ...claims, iss: issuerA, aud: audience, exp: now() + 300 }),
    'missing typ where at+jwt is required': () => sign(keyB, claims, { issuer: issuerB, audience }),
    'a back-channel logout token (typ logout+jwt) of an issuer requiring no type': () => sign(keyA, claims, { issuer: issuerA, audience, header: { typ: 'logout+jwt' } }),
    'a security event token (typ application/secevent+jwt) of an issuer requiring no type': () => sign(keyA, claims, { issuer: issuerA, audience, header: { typ: 'application/secevent+jwt' } }),
    'a signed introspection answer (typ token-introspection+jwt) of an issuer requiring no type': () => sign(keyA, claims, { issuer: issuerA, audience, header: { typ: 'token-introspection+JWT' } }),
    'algorithm not allowed for the issuer': () => sign(pssB, claims, { issuer: issuerB, audience, header: { typ: 'at+jwt' } }),
    'three segments of garbage': () => 'eyJhbGciOi.bm90IGpzb24.c2ln',
    'a JWE (five segments), with no introspection configured': () => 'eyJhbGciOiJkaXIifQ..aXY.Y2lwaGVy.dGFn',
  };

  it.each(Object.keys(attacks))('denies %s with invalid_token', async (name) => {
    const make = attacks[name];
    if (make === undefined) throw new Error(name);
    const token = await make();
    expect(token.length).toBeLessThanOrEqual(16_384);
    const res = await postJson(app, '/decide', { token, ...question });
    expect(res.status).toBe(200);
    const body = await readJson(res);
    expect(body.decision).toBe('deny');
    expect(body.reasons).toEqual([expect.objectContaining({ code: 'invalid_token', detail: expect.any(String) })]);
  });

  it.each(['JWT', 'at+jwt', 'application/at+jwt', 'AT+JWT', 'JOSE'])('permits a token typed %s of an issuer requiring no type', async (typ) => {
    expect(await decide(await sign(keyA, claims, { issuer: issuerA, audience, header: { typ } }))).toMatchObject({ decision: 'permit' });
  });

  it('reported every refused token to the observer as invalid, none as valid or error', () => {
    const refused = observer.seen.filter((s) => s.endsWith(':invalid'));
    expect(refused.length).toBe(Object.keys(attacks).length);
    expect(observer.seen.filter((s) => s.endsWith(':error'))).toEqual([]);
  });

  it('says a token of another kind is not an access token', async () => {
    const token = await sign(keyA, claims, { issuer: issuerA, audience, header: { typ: 'logout+jwt' } });
    expect(await decide(token)).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'claim "typ" invalid: another kind of token than an access token' }] });
  });

  it('refuses an algorithm outside the issuer\'s own list, though its key set holds a key for it', async () => {
    const token = await sign(pssB, claims, { issuer: issuerB, audience, header: { typ: 'at+jwt' } });
    expect(await decide(token)).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'algorithm not allowed' }] });
  });

  it('says why in its own words and the error code, never quoting what the token chose (a crit header name)', async () => {
    const name = 'x-<script>alert(1)</script>';
    const token = signRaw(keyA, { crit: [name], [name]: true }, { ...claims, iss: issuerA, aud: audience, exp: now() + 300 });
    const body = await decide(token);
    expect(body).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'token has an unrecognised critical header (ERR_JOSE_NOT_SUPPORTED)' }] });
    expect(JSON.stringify(body)).not.toContain('script');
  });
});
