import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { CompactSign, createLocalJWKSet, type JWTVerifyGetKey } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../src/config.js';
import { ExpiringCache, tokenKey } from '../src/token/cache.js';
import { cachedVerifier } from '../src/token/cached-verifier.js';
import type { Claims } from '../src/token/claims.js';
import { InvalidTokenError } from '../src/token/errors.js';
import type { TokenObserver } from '../src/token/observer.js';
import { tokensFromConfig, type Tokens } from '../src/token/from-config.js';
import { createTokenVerifier } from '../src/token/token-verifier.js';
import { createJwtVerifier } from '../src/token/verify.js';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { startIntrospectionServer, type IntrospectionServer } from './helpers/introspection-server.js';
import { startJwksServer, type JwksServer } from './helpers/jwks-server.js';
import { jwks, sign, signingKey, withPayload, type SigningKey } from './helpers/signing.js';
import { tempDir } from './helpers/tmp.js';

const issuer = 'https://idp.test/';
const audience = 'invoice-api';

describe('verified-token cache', () => {
  let key: SigningKey;
  let keyLookups: number;
  let now: number;
  let keys: JWTVerifyGetKey;

  beforeAll(async () => {
    key = await signingKey('k1');
    const local = createLocalJWKSet(jwks(key));
    // Counts how often a signature is really checked: jose asks for the key once per verification.
    keys = (header, token) => {
      keyLookups += 1;
      return local(header, token);
    };
  });

  function verifier(maxEntries = 100, maxTtlMs = 300_000, maxJsonLength?: number) {
    keyLookups = 0;
    now = Math.floor(Date.now() / 1000) * 1000;
    const inner = createJwtVerifier({ keys, issuer, audience: [audience], algorithms: ['ES256'], clockTolerance: 0, clock: () => new Date(now) });
    return cachedVerifier(inner, new ExpiringCache<Claims>({ maxEntries, maxTtlMs, clock: () => now, ...(maxJsonLength !== undefined && { maxJsonLength }) }), 0);
  }

  const token = (claims: Record<string, unknown> = {}, expiresIn = 300) => sign(key, { sub: 'alice', ...claims }, { issuer, audience, expiresIn, now: Math.floor(now / 1000) });

  it('verifies a token once, then answers from the cache', async () => {
    const v = verifier();
    const t = await token();
    for (let i = 0; i < 5; i += 1) await expect(v.verify(t)).resolves.toMatchObject({ sub: 'alice' });
    expect(keyLookups).toBe(1);
  });

  it('keys on the whole token: same signature with another payload or header is verified (and refused)', async () => {
    const v = verifier();
    const t = await token();
    await v.verify(t);
    const [header, payload, signature] = t.split('.');
    const forged = [
      withPayload(t, { sub: 'mallory', iss: issuer, aud: audience, exp: Math.floor(now / 1000) + 300 }),
      `${Buffer.from(JSON.stringify({ alg: 'ES256', kid: 'k1', typ: 'JWT' })).toString('base64url')}.${payload}.${signature}`,
    ];
    expect(forged[1]).not.toBe(t);
    expect(header).not.toBe(forged[1]?.split('.')[0]);
    for (const f of forged) await expect(v.verify(f)).rejects.toBeInstanceOf(InvalidTokenError);
    expect(keyLookups).toBe(3);
  });

  it('never answers from the cache past the token exp', async () => {
    const v = verifier();
    const t = await token({}, 10);
    await v.verify(t);
    now += 9_999;
    await v.verify(t);
    expect(keyLookups).toBe(1);
    now += 1;
    await expect(v.verify(t)).rejects.toThrow('token expired');
  });

  it('never keeps an entry longer than its maximum age', async () => {
    const v = verifier(100, 1_000);
    const t = await token();
    await v.verify(t);
    now += 999;
    await v.verify(t);
    now += 1;
    await v.verify(t);
    expect(keyLookups).toBe(2);
  });

  it('is bounded: the least recently used token is dropped', async () => {
    const v = verifier(2);
    const [a, b, c] = await Promise.all([token({ n: 1 }), token({ n: 2 }), token({ n: 3 })]);
    for (const t of [a, b, c]) await v.verify(t ?? '');
    expect(keyLookups).toBe(3);
    await v.verify(c ?? '');
    await v.verify(b ?? '');
    expect(keyLookups).toBe(3);
    await v.verify(a ?? '');
    expect(keyLookups).toBe(4);
  });

  it('holds tokens up to a length of their claims as JSON, least recently used dropped first, besides their count', async () => {
    const v = verifier(100, 300_000, 7_000);
    // Claims of some 3,100 characters as JSON: two fit.
    const [a, b, c] = await Promise.all([1, 2, 3].map((n) => token({ n, note: 'x'.repeat(3_000) })));
    for (const t of [a, b, a]) await v.verify(t ?? '');
    expect(keyLookups).toBe(2);
    // A third pushes out the one least recently used, b: its next presentation is verified again.
    await v.verify(c ?? '');
    await v.verify(a ?? '');
    expect(keyLookups).toBe(3);
    await v.verify(b ?? '');
    expect(keyLookups).toBe(4);
    // One whose claims alone are longer than the bound is not held at all.
    const big = await token({ note: 'x'.repeat(7_000) });
    await v.verify(big);
    await v.verify(big);
    expect(keyLookups).toBe(6);
  });

  it('does not remember refusals', async () => {
    const v = verifier();
    const t = await token({}, -10);
    await expect(v.verify(t)).rejects.toThrow('token expired');
    await expect(v.verify(t)).rejects.toThrow('token expired');
    expect(keyLookups).toBe(2);
  });

  it('hashes the whole token (SHA-256), never storing it', () => {
    expect(tokenKey('a.b.c')).toBe(createHash('sha256').update('a.b.c').digest('base64url'));
    expect(tokenKey('a.b.c')).not.toContain('a.b.c');
    expect(tokenKey('x.b.c')).not.toBe(tokenKey('a.b.c'));
  });

  it('reports cache hits to the observer with the cached outcome', async () => {
    const seen: string[] = [];
    const observer: TokenObserver = { tokenVerification: (kind, result) => void seen.push(`${kind}:${result}`) };
    const v = createTokenVerifier({ jwt: verifier(), observer });
    const t = await token();
    await v.verify(t);
    await v.verify(t);
    await expect(v.verify(`${t}x`)).rejects.toBeInstanceOf(InvalidTokenError);
    expect(seen).toEqual(['jwt:valid', 'jwt:valid', 'jwt:invalid']);
    expect(keyLookups).toBe(2);
  });
});

describe('verified-token cache and a key the key set no longer lists', () => {
  let k1: SigningKey;
  let k2: SigningKey;
  let server: JwksServer;
  let tokens: Tokens;
  let app: Awaited<ReturnType<typeof buildTestApp>>['app'];
  const claims = { sub: 'alice', roles: ['accountant'], scope: 'invoice.read', region: 'EU' };
  const question = { action: 'read', resource: { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'EU' } } };
  const decide = async (token: string) => readJson(await postJson(app, '/decide', { token, ...question }));

  beforeAll(async () => {
    [k1, k2] = await Promise.all([signingKey('k1'), signingKey('k2')]);
  });

  afterEach(async () => {
    tokens.close();
    await server.close();
  });

  async function start() {
    server = await startJwksServer(jwks(k1, k2));
    tokens = await tokensFromConfig(loadConfig({ JWKS_URL: server.url, JWT_ISSUER: issuer, JWT_AUDIENCE: audience, JWKS_COOLDOWN_SECONDS: '0' }));
    ({ app } = await buildTestApp({ tokens: tokens.verifier, claims: tokens.claims }));
  }

  /** A token under a kid the key set does not list: its check fetches the key set again. */
  const fetchAgain = async () => decide(await sign(k2, claims, { issuer, audience, kid: 'unknown' }));

  it('refuses a cached token once a fetch leaves its key out, as it refuses the same key\'s uncached tokens', async () => {
    await start();
    const cached = await sign(k1, claims, { issuer, audience });
    expect(await decide(cached)).toMatchObject({ decision: 'permit' });
    server.publish(jwks(k2));
    await fetchAgain();
    expect(await decide(await sign(k1, { ...claims, jti: 'fresh' }, { issuer, audience }))).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token' }] });
    expect(await decide(cached)).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'no matching key in the key set' }] });
  });

  it('refuses a cached token once a fetch re-issues its kid with other key material', async () => {
    await start();
    const cached = await sign(k1, claims, { issuer, audience });
    expect(await decide(cached)).toMatchObject({ decision: 'permit' });
    // The issuer replaced a key it no longer trusts, keeping its kid: what it signed is no longer its word.
    const reissued = await signingKey('k1');
    server.publish(jwks(reissued, k2));
    await fetchAgain();
    expect(await decide(await sign(reissued, { ...claims, jti: 'fresh' }, { issuer, audience }))).toMatchObject({ decision: 'permit' });
    expect(await decide(cached)).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'signature verification failed' }] });
  });

  it('keeps answering from the cache when a fetch only adds keys, or brings the same ones', async () => {
    await start();
    const cached = await sign(k1, claims, { issuer, audience });
    expect(await decide(cached)).toMatchObject({ decision: 'permit' });
    const fetched = server.requests;
    await fetchAgain();
    server.publish(jwks(k1, k2, await signingKey('k3')));
    await fetchAgain();
    expect(server.requests).toBe(fetched + 2);
    server.mode = 'error';
    expect(await decide(cached)).toMatchObject({ decision: 'permit' });
    expect(server.requests).toBe(fetched + 2);
  });
});

describe('token caches and a host clock stepped', () => {
  let key: SigningKey;
  let keySet: JwksServer;
  let introspection: IntrospectionServer;
  let tokens: Tokens;
  let decide: (token: string) => Promise<Record<string, unknown>>;
  const claims = { sub: 'alice', roles: ['accountant'], scope: 'invoice.read', region: 'EU' };
  const question = { action: 'read', resource: { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'EU' } } };
  let start: number;

  beforeAll(async () => {
    key = await signingKey('k1');
    [keySet, introspection] = await Promise.all([startJwksServer(jwks(key)), startIntrospectionServer()]);
  });
  afterAll(async () => {
    await Promise.all([keySet.close(), introspection.close()]);
  });

  beforeEach(async () => {
    // Only Date: the caches read the wall clock through it, while timers and elapsed time run on.
    vi.useFakeTimers({ toFake: ['Date'] });
    start = Math.floor(Date.now() / 1000) * 1000;
    vi.setSystemTime(start);
    tokens = await tokensFromConfig(loadConfig({
      JWKS_URL: keySet.url,
      JWT_ISSUER: issuer,
      JWT_AUDIENCE: audience,
      INTROSPECTION_URL: introspection.url,
      INTROSPECTION_CLIENT_ID: introspection.clientId,
      INTROSPECTION_CLIENT_SECRET: introspection.clientSecret,
    }));
    const { app } = await buildTestApp({ tokens: tokens.verifier, claims: tokens.claims });
    decide = async (token) => readJson(await postJson(app, '/decide', { token, ...question }));
  });
  afterEach(() => {
    tokens.close();
    vi.useRealTimers();
  });

  const seconds = () => start / 1000;
  const denied = (detail: string) => ({ decision: 'deny', reasons: [{ code: 'invalid_token', detail }] });
  let n = 0;
  /** An opaque token the introspection server answers active with `times`. */
  const opaque = (times: Record<string, number>) => {
    const token = `stepped-${(n += 1)}`;
    introspection.answer(token, { body: { active: true, iss: issuer, ...claims, ...times } });
    return token;
  };

  it('refuses a cached JWT once the clock steps back before its nbf or iat, beyond the tolerance, as it refuses it uncached', async () => {
    const early = await sign(key, claims, { issuer, audience, notBefore: 20, expiresIn: 600 });
    const ahead = await sign(key, claims, { issuer, audience, expiresIn: 600, now: seconds() + 20 });
    expect(await decide(early)).toMatchObject({ decision: 'permit' });
    expect(await decide(ahead)).toMatchObject({ decision: 'permit' });
    vi.setSystemTime(start - 60_000);
    expect(await decide(early)).toMatchObject(denied('token not yet valid'));
    expect(await decide(ahead)).toMatchObject(denied('claim "iat" invalid: in the future'));
  });

  it('looks up a cached opaque token again once the clock steps back before its nbf or iat, beyond the tolerance, and refuses it', async () => {
    const early = opaque({ iat: seconds(), nbf: seconds() + 20, exp: seconds() + 600 });
    const ahead = opaque({ iat: seconds() + 20, exp: seconds() + 600 });
    expect(await decide(early)).toMatchObject({ decision: 'permit' });
    expect(await decide(ahead)).toMatchObject({ decision: 'permit' });
    vi.setSystemTime(start - 60_000);
    expect(await decide(early)).toMatchObject(denied('token not yet valid'));
    expect(await decide(ahead)).toMatchObject(denied('claim "iat" invalid: in the future'));
    expect([introspection.requestsFor(early), introspection.requestsFor(ahead)]).toEqual([2, 2]);
  });

  it('never takes a cached token whose exp the clock, stepped forward, has passed beyond the tolerance', async () => {
    const jwt = await sign(key, claims, { issuer, audience, expiresIn: 60 });
    const token = opaque({ iat: seconds(), exp: seconds() + 60 });
    expect(await decide(jwt)).toMatchObject({ decision: 'permit' });
    expect(await decide(token)).toMatchObject({ decision: 'permit' });
    vi.setSystemTime(start + 90_000);
    expect(await decide(jwt)).toMatchObject(denied('token expired'));
    expect(await decide(token)).toMatchObject(denied('token expired'));
  });
});

describe('token caches and claims nested deeper than JSON.stringify can write', () => {
  let key: SigningKey;
  let introspection: IntrospectionServer;
  let tokens: Tokens;
  let decide: (token: string) => Promise<Record<string, unknown>>;
  const question = { action: 'read', resource: { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'EU' } } };
  const exp = () => Math.floor(Date.now() / 1000) + 600;
  /** Claims as JSON text, `x` an array nested `depth` deep: more than the stack holds for JSON.stringify, which SignJWT would call. */
  const deepClaims = (depth: number) => `{"sub":"alice","roles":["accountant"],"iss":"${issuer}","aud":"${audience}","exp":${exp()},"x":${'['.repeat(depth)}${']'.repeat(depth)}}`;

  beforeAll(async () => {
    key = await signingKey('k1');
    introspection = await startIntrospectionServer();
    const keys = await tempDir({ 'jwks.json': jwks(key) });
    tokens = await tokensFromConfig(loadConfig({
      JWKS_FILE: join(keys, 'jwks.json'),
      JWT_ISSUER: issuer,
      JWT_AUDIENCE: audience,
      TOKEN_MAX_LENGTH: '16384',
      INTROSPECTION_URL: introspection.url,
      INTROSPECTION_CLIENT_ID: introspection.clientId,
      INTROSPECTION_CLIENT_SECRET: introspection.clientSecret,
    }));
    const { app } = await buildTestApp({ tokens: tokens.verifier, claims: tokens.claims });
    decide = async (token) => readJson(await postJson(app, '/decide', { token, ...question }));
  });
  afterAll(async () => {
    tokens.close();
    await introspection.close();
  });

  const beyondTheLimits = { decision: 'deny', reasons: [{ code: 'invalid_token', detail: expect.stringMatching(/^claims beyond the limits: \$\.x(\[0\]){63} nested deeper than 64 levels$/) }] };

  it('refuses such a JWT as beyond the JSON limits, not as a check that failed unexpectedly', async () => {
    const jwt = await new CompactSign(new TextEncoder().encode(deepClaims(5_900))).setProtectedHeader({ alg: key.alg, kid: key.kid }).sign(key.privateKey);
    expect(jwt.length).toBeLessThanOrEqual(16_384);
    expect(await decide(jwt)).toMatchObject(beyondTheLimits);
  });

  it('refuses such an introspection answer as beyond the JSON limits, not as a check that failed unexpectedly', async () => {
    introspection.answer('deep', { body: deepClaims(30_000).replace('{', '{"active":true,') });
    expect(await decide('deep')).toMatchObject(beyondTheLimits);
  });
});
