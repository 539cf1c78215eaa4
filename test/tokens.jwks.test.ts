import { generateKeyPairSync, KeyObject } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { tokensFromConfig, type Tokens } from '../src/token/from-config.js';
import { TokenCheckUnavailableError } from '../src/token/errors.js';
import { RemoteKeySet, type RemoteKeySetOptions } from '../src/token/jwks.js';
import { createJwtVerifier, type TokenVerifier } from '../src/token/verify.js';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { startJwksServer, type JwksServer } from './helpers/jwks-server.js';
import { refusal } from './helpers/refusal.js';
import { jwks, sign, signingKey, type SigningKey } from './helpers/signing.js';

const issuer = 'https://idp.test/';
const audience = 'invoice-api';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('remote JWKS: rotation, outages, cooldown', () => {
  let k1: SigningKey;
  let k2: SigningKey;
  let server: JwksServer;
  let keySet: RemoteKeySet;
  let fetchErrors: string[] = [];

  beforeAll(async () => {
    [k1, k2] = await Promise.all([signingKey('k1'), signingKey('k2')]);
  });

  afterEach(async () => {
    keySet.close();
    await server.close();
  });

  async function setUp(options: Partial<RemoteKeySetOptions> = {}, published = jwks(k1)): Promise<TokenVerifier> {
    server = await startJwksServer(published);
    // A fresh list per key set: a fetch still running when a test ends must not report into the next.
    const errors: string[] = [];
    fetchErrors = errors;
    // A fetch bound far above a local fetch, which took over 300 ms while other test files loaded the machine.
    keySet = new RemoteKeySet({
      url: server.url,
      timeoutMs: 2_000,
      cooldownMs: 200,
      refreshMs: 0,
      onFetchError: (_url, error) => errors.push(error.message),
      onUnfit: (_url, error) => errors.push(error.message),
      ...options,
    });
    return createJwtVerifier({ keys: keySet.getKey, issuer, audience: [audience], algorithms: ['ES256'] });
  }

  const token = (key: SigningKey, kid?: string) => sign(key, { sub: 'alice' }, { issuer, audience, kid });

  it('fetches the key set once and keeps using it', async () => {
    const verifier = await setUp();
    const t = await token(k1);
    for (let i = 0; i < 5; i += 1) await expect(verifier.verify(t)).resolves.toMatchObject({ sub: 'alice' });
    expect(server.requests).toBe(1);
  });

  it('shares one fetch among concurrent first requests', async () => {
    const verifier = await setUp();
    const t = await token(k1);
    await Promise.all(Array.from({ length: 20 }, () => verifier.verify(t)));
    expect(server.requests).toBe(1);
  });

  it('follows a key rotation without a restart: new kid fetched, removed kid refused', async () => {
    const verifier = await setUp();
    const old = await token(k1);
    await verifier.verify(old);
    server.publish(jwks(k2));
    await sleep(220);
    const rotated = await Promise.all(Array.from({ length: 10 }, () => token(k2)));
    await Promise.all(rotated.map((t) => expect(verifier.verify(t)).resolves.toMatchObject({ sub: 'alice' })));
    expect(server.requests).toBe(2);
    const error = await refusal(verifier.verify(old));
    expect(error.message).toBe('no matching key in the key set');
    expect(server.requests).toBe(2);
  });

  it('picks up a rotation in the background before any token needs it', async () => {
    const verifier = await setUp({ refreshMs: 100, cooldownMs: 60_000 });
    await verifier.verify(await token(k1));
    server.publish(jwks(k1, k2));
    await sleep(250);
    expect(server.requests).toBeGreaterThanOrEqual(2);
    await expect(verifier.verify(await token(k2))).resolves.toMatchObject({ sub: 'alice' });
  });

  it.each(['error', 'reset', 'hang', 'garbage'] as const)('keeps the cached keys while the key server is down (%s)', async (mode) => {
    const verifier = await setUp({ refreshMs: 50, timeoutMs: 300 });
    const t = await token(k1);
    await verifier.verify(t);
    server.mode = mode;
    await sleep(mode === 'hang' ? 700 : 150);
    await expect(verifier.verify(t)).resolves.toMatchObject({ sub: 'alice' });
    expect(fetchErrors.length).toBeGreaterThan(0);
  });

  it.each([
    ['no keys', () => ({ keys: [] })],
    ['keys of no known type', () => ({ keys: [{}, { kty: 'oct', k: 'c2VjcmV0' }] })],
    ['only encryption keys', () => ({ keys: [{ ...k2.publicJwk, use: 'enc' }] })],
    // RFC 7517 §4.3: a key whose "key_ops" leaves out "verify" checks no signature, and jose never picks it.
    ['only keys whose key_ops allow no verification', () => ({ keys: [{ ...k1.publicJwk, key_ops: [] }] })],
    // The same kid with malformed material: before, it replaced the good key, and every token
    // was refused until the next background refresh, with no refetch asked for.
    ['only keys whose material does not import', () => ({ keys: [{ ...k1.publicJwk, x: 'AAAA', y: 'AAAA' }, { ...k2.publicJwk, kty: 'RSA' }] })],
    // The signing key itself, published by mistake: jose refuses a private key at every verification.
    ['only private keys', () => ({ keys: [{ ...KeyObject.from(k1.privateKey).export({ format: 'jwk' }), kid: k1.kid, alg: k1.alg, use: 'sig' }] })],
  ])('drops the keys held, missing, when the key server answers a key set with %s', async (_, document) => {
    const verifier = await setUp({ refreshMs: 50 });
    const t = await token(k1);
    await verifier.verify(t);
    server.publish(document());
    await sleep(150);
    // The server lists k1 no more: its tokens are denied, saying why, until a set with a usable key comes.
    const error = await refusal(verifier.verify(t));
    expect(error).toBeInstanceOf(TokenCheckUnavailableError);
    expect(error.message).toBe('key set unavailable: answered a key set with no usable signing keys');
    expect(fetchErrors).toContain('answered a key set with no usable signing keys');
    expect(keySet.state()).toBe('missing');
    server.publish(jwks(k1));
    await sleep(150);
    await expect(verifier.verify(t)).resolves.toMatchObject({ sub: 'alice' });
  });

  it('leaves out a key whose material does not import, and uses the others', async () => {
    const broken = { ...k1.publicJwk, kid: 'broken', x: 'AAAA', y: 'AAAA' };
    const verifier = await setUp({}, { keys: [broken, k2.publicJwk] });
    // Without a kid, every key that fits is tried: the broken one, first, no longer stops the search.
    await expect(verifier.verify(await sign(k2, { sub: 'alice' }, { issuer, audience, header: { kid: undefined } }))).resolves.toMatchObject({ sub: 'alice' });
    // Naming it, a token finds no key (which asks for a refetch), not one that fails to import.
    const error = await refusal(verifier.verify(await token(k1, 'broken')));
    expect(error.message).toBe('no matching key in the key set');
    expect(fetchErrors).toEqual([]);
  });

  it('leaves out an RSA key under 2,048 bits, which imports but fails every verification', async () => {
    const weak = { ...generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }), use: 'sig' };
    const good = await signingKey('good', 'RS256');
    const kidless = { ...good.publicJwk, kid: undefined };
    server = await startJwksServer({ keys: [weak, kidless] });
    keySet = new RemoteKeySet({ url: server.url, timeoutMs: 300, cooldownMs: 200, refreshMs: 0 });
    const verifier = createJwtVerifier({ keys: keySet.getKey, issuer, audience: [audience], algorithms: ['RS256'] });
    // Met first among the kid-less token's candidates, the weak key stopped the search.
    const t = await sign(good, { sub: 'alice' }, { issuer, audience, header: { kid: undefined } });
    await expect(verifier.verify(t)).resolves.toMatchObject({ sub: 'alice' });
  });

  it('keeps the cached keys when the key server is gone entirely', async () => {
    const verifier = await setUp();
    const t = await token(k1);
    await verifier.verify(t);
    await server.close();
    await sleep(220);
    // A key the set does not hold may be one the server lists now: an outage, not a foreign token.
    const error = await refusal(verifier.verify(await token(k2)));
    expect(error).toBeInstanceOf(TokenCheckUnavailableError);
    expect(error.message).toMatch(/^key set unavailable: no key for this token among those fetched, and the last fetch failed \(unreachable/);
    expect(fetchErrors).toEqual([expect.stringMatching(/^unreachable/)]);
    await expect(verifier.verify(t)).resolves.toMatchObject({ sub: 'alice' });
  });

  it('bounds refetches caused by unknown kids to one per cooldown, also while the server fails', async () => {
    const verifier = await setUp({ cooldownMs: 300 });
    await verifier.verify(await token(k1));
    server.mode = 'error';
    await sleep(320);
    const before = server.requests;
    const flood = await Promise.all(Array.from({ length: 50 }, (_, i) => token(k1, `bogus-${i}`)));
    for (const t of flood) expect(await refusal(verifier.verify(t))).toBeInstanceOf(TokenCheckUnavailableError);
    expect(server.requests - before).toBe(1);
    await sleep(320);
    for (const t of flood.slice(0, 10)) await refusal(verifier.verify(t));
    expect(server.requests - before).toBe(2);
  });

  it('denies as unavailable, within the timeout, when no keys were ever fetched', async () => {
    server = await startJwksServer(jwks(k1));
    server.mode = 'hang';
    keySet = new RemoteKeySet({ url: server.url, timeoutMs: 200, cooldownMs: 10_000, refreshMs: 0 });
    const verifier = createJwtVerifier({ keys: keySet.getKey, issuer, audience: [audience], algorithms: ['ES256'] });
    const started = performance.now();
    const error = await refusal(verifier.verify(await token(k1)));
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(error).toBeInstanceOf(TokenCheckUnavailableError);
    expect(error.message).toMatch(/unavailable: no answer within 200 ms/);
  });

  it('names the status of a failure whose page is longer than a key set may be, not its size', async () => {
    const verifier = await setUp();
    await verifier.verify(await token(k1));
    server.mode = 'error-page';
    await sleep(220);
    const error = await refusal(verifier.verify(await token(k2)));
    expect(error.message).toBe('key set unavailable: no key for this token among those fetched, and the last fetch failed (answered HTTP 503)');
    expect(fetchErrors).toEqual(['answered HTTP 503']);
  });

  it('recovers once the key server is back and the cooldown has passed', async () => {
    server = await startJwksServer(jwks(k1));
    server.mode = 'error';
    keySet = new RemoteKeySet({ url: server.url, timeoutMs: 300, cooldownMs: 150, refreshMs: 0 });
    const verifier = createJwtVerifier({ keys: keySet.getKey, issuer, audience: [audience], algorithms: ['ES256'] });
    const t = await token(k1);
    expect((await refusal(verifier.verify(t))).message).toMatch(/answered HTTP 500/);
    server.mode = 'ok';
    await refusal(verifier.verify(t));
    expect(server.requests).toBe(1);
    await sleep(170);
    await expect(verifier.verify(t)).resolves.toMatchObject({ sub: 'alice' });
    expect(server.requests).toBe(2);
  });
});

describe('remote JWKS that writes a member twice', () => {
  let k1: SigningKey;
  let k2: SigningKey;
  let server: JwksServer;
  let tokens: Tokens;
  const claims = { sub: 'alice', roles: ['accountant'], scope: 'invoice.read', region: 'EU' };
  const question = { action: 'read', resource: { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'EU' } } };

  beforeAll(async () => {
    [k1, k2] = await Promise.all([signingKey('k1'), signingKey('k2')]);
  });

  afterEach(async () => {
    tokens.close();
    await server.close();
  });

  /** The members of an object as JSON text, without its braces, to write beside others. */
  const member = (value: object) => JSON.stringify(value).slice(1, -1);

  it.each([
    // JSON.parse keeps the last: the first set's keys were dropped without a word.
    ['two "keys"', () => `{${member(jwks(k1))},${member(jwks(k2))}}`, '$.keys'],
    // A key's material written twice: the last "x" is the one that was imported.
    ['a key with two "x"', () => `{"keys":[{"x":${JSON.stringify(k1.publicJwk.x)},${member(k2.publicJwk)}}]}`, '$.keys[0].x'],
  ])('refuses a fetched key set with %s, naming the member, and keeps the keys it held', async (_, document, path) => {
    server = await startJwksServer(jwks(k1));
    const fetchErrors: string[] = [];
    tokens = await tokensFromConfig(loadConfig({ JWKS_URL: server.url, JWT_ISSUER: issuer, JWT_AUDIENCE: audience, JWKS_COOLDOWN_SECONDS: '0' }), {
      onKeySetError: (_url, error) => fetchErrors.push(error.message),
    });
    const { app } = await buildTestApp({ tokens: tokens.verifier, claims: tokens.claims });
    const decide = async (t: string) => readJson(await postJson(app, '/decide', { token: t, ...question }));
    expect(await decide(await sign(k1, claims, { issuer, audience }))).toMatchObject({ decision: 'permit' });
    server.publish(document());
    // k2 is not held: its token asks for the key set again, which now writes a member twice.
    expect(await decide(await sign(k2, claims, { issuer, audience }))).toMatchObject({
      decision: 'deny',
      reasons: [{ code: 'invalid_token', detail: `key set unavailable: no key for this token among those fetched, and the last fetch failed (answered a key set refused at ${path}: duplicate key)` }],
    });
    expect(fetchErrors).toEqual([`answered a key set refused at ${path}: duplicate key`]);
    expect(await decide(await sign(k1, { ...claims, jti: 'after' }, { issuer, audience }))).toMatchObject({ decision: 'permit' });
    expect(tokens.keySets()).toEqual([{ url: server.url, state: 'stale' }]);
  });
});

describe('remote JWKS whose answer lists no key for the accepted algorithms', () => {
  let rsa: SigningKey;
  let ec: SigningKey;
  let server: JwksServer;
  let tokens: Tokens;
  const claims = { sub: 'alice', roles: ['accountant'], scope: 'invoice.read', region: 'EU' };
  const question = { action: 'read', resource: { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'EU' } } };

  beforeAll(async () => {
    [rsa, ec] = await Promise.all([signingKey('rsa-1', 'RS256'), signingKey('ec-1')]);
  });

  afterEach(async () => {
    tokens.close();
    await server.close();
  });

  it('drops the keys held: a token of the key it no longer lists is denied, cached or not, until a set with one comes', async () => {
    server = await startJwksServer(jwks(rsa));
    const fetchErrors: string[] = [];
    const unfit: string[] = [];
    tokens = await tokensFromConfig(loadConfig({ JWKS_URL: server.url, JWT_ISSUER: issuer, JWT_AUDIENCE: audience, JWT_ALGORITHMS: 'RS256', JWKS_COOLDOWN_SECONDS: '0', JWKS_REFRESH_SECONDS: '0' }), {
      onKeySetError: (_url, error) => fetchErrors.push(error.message),
      onKeySetUnfit: (_url, error) => unfit.push(error.message),
    });
    const { app } = await buildTestApp({ tokens: tokens.verifier, claims: tokens.claims });
    const decide = async (t: string) => readJson(await postJson(app, '/decide', { token: t, ...question }));
    const old = await sign(rsa, claims, { issuer, audience });
    // Verified once, so also held by the verified-token cache.
    expect(await decide(old)).toMatchObject({ decision: 'permit' });

    // The identity provider removes its RSA key (compromised, say) and lists an ES256 key alone.
    server.publish(jwks(ec));
    // A token of a kid not held asks for the key set again, as the background refresh would.
    await decide(await sign(await signingKey('unknown', 'RS256'), claims, { issuer, audience }));
    const refused = { decision: 'deny', reasons: [{ code: 'invalid_token', detail: expect.stringMatching(/^key set unavailable: answered a key set with no key for the accepted algorithms \(RS256\): /) }] };
    expect(await decide(old)).toMatchObject(refused);
    expect(await decide(await sign(rsa, { ...claims, jti: 'after' }, { issuer, audience }))).toMatchObject(refused);
    expect(tokens.keySets()).toEqual([{ url: server.url, state: 'missing' }]);
    // One warning per fetch (each of these denied tokens asked for one, with no cooldown).
    expect(unfit).toEqual(Array(3).fill(expect.stringMatching(/^answered a key set with no key for the accepted algorithms \(RS256\): /)));
    expect(fetchErrors).toEqual([]);

    // A set with a key for RS256 again is taken at the next fetch.
    const next = await signingKey('rsa-2', 'RS256');
    server.publish(jwks(ec, next));
    expect(await decide(await sign(next, claims, { issuer, audience }))).toMatchObject({ decision: 'permit' });
    expect(await decide(old)).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'no matching key in the key set' }] });
    expect(tokens.keySets()).toEqual([{ url: server.url, state: 'loaded' }]);
  });
});

describe('remote JWKS listing more keys than are read', () => {
  let key: SigningKey;
  let server: JwksServer;
  let tokens: Tokens;
  const claims = { sub: 'alice', roles: ['accountant'], scope: 'invoice.read', region: 'EU' };
  const question = { action: 'read', resource: { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'EU' } } };

  beforeAll(async () => {
    key = await signingKey('k1');
  });

  afterEach(async () => {
    tokens.close();
    await server.close();
  });

  /** `key` and `others` more keys of the same material under kids of their own. */
  const withOthers = (others: number) => ({ keys: [key.publicJwk, ...Array.from({ length: others }, (_, i) => ({ ...key.publicJwk, kid: `other-${i}` }))] });

  // Importing a key costs up to 1.4 ms (a P-521 key, Node 20): 512 KiB holds 2,100 of them, and a
  // fetch of such a set held the event loop for seconds, at start, at each refresh and at each
  // cooldown's unknown kid.
  it('refuses a fetched set of more than 64 keys, keeping the keys it held, and takes one of 64', async () => {
    server = await startJwksServer(withOthers(63));
    const fetchErrors: string[] = [];
    tokens = await tokensFromConfig(loadConfig({ JWKS_URL: server.url, JWT_ISSUER: issuer, JWT_AUDIENCE: audience, JWKS_COOLDOWN_SECONDS: '0', JWKS_REFRESH_SECONDS: '0' }), {
      onKeySetError: (_url, error) => fetchErrors.push(error.message),
    });
    const { app } = await buildTestApp({ tokens: tokens.verifier, claims: tokens.claims });
    const decide = async (t: string) => readJson(await postJson(app, '/decide', { token: t, ...question }));
    expect(await decide(await sign(key, claims, { issuer, audience, kid: 'other-62' }))).toMatchObject({ decision: 'permit' });

    server.publish(withOthers(3_000));
    expect(await decide(await sign(key, claims, { issuer, audience, kid: 'other-2000' }))).toMatchObject({
      decision: 'deny',
      reasons: [{ code: 'invalid_token', detail: 'key set unavailable: no key for this token among those fetched, and the last fetch failed (answered a key set that lists 3001 keys, more than the 64 read)' }],
    });
    expect(fetchErrors).toEqual(['answered a key set that lists 3001 keys, more than the 64 read']);
    expect(await decide(await sign(key, claims, { issuer, audience }))).toMatchObject({ decision: 'permit' });
    expect(tokens.keySets()).toEqual([{ url: server.url, state: 'stale' }]);
  });
});
