import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { loadConfig } from '../src/config.js';
import { tokensFromConfig, type Tokens } from '../src/token/from-config.js';
import { RemoteKeySet } from '../src/token/jwks.js';
import { KeySetFetcher } from '../src/token/key-set-fetcher.js';
import { createJwtVerifier } from '../src/token/verify.js';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { startJwksServer, type JwksServer } from './helpers/jwks-server.js';
import { jwks, sign, signingKey, type SigningKey } from './helpers/signing.js';
import { tempDir } from './helpers/tmp.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const question = { action: 'read', resource: { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'EU' } } };
const accountant = { roles: ['accountant'], scope: 'invoice.read', region: 'EU' };

/** Three issuers of one identity provider, one key set URL: each with its own audience, algorithms and claim mapping. */
const issuersOf = (url: string) => [
  { issuer: 'https://idp.test/tenant-a', jwksUrl: url, audience: 'invoice-api', algorithms: ['ES256'] },
  { issuer: 'https://idp.test/tenant-b', jwksUrl: url, audience: 'invoice-api', algorithms: ['RS256'], claims: { subject: 'oid' } },
  { issuer: 'https://idp.test/tenant-c', jwksUrl: url, audience: 'billing-api', algorithms: ['ES256'] },
];

describe('issuers of TOKEN_CONFIG_FILE sharing one jwksUrl', () => {
  let ec1: SigningKey;
  let ec2: SigningKey;
  let rsa: SigningKey;
  let server: JwksServer;
  let tokens: Tokens;

  beforeAll(async () => {
    [ec1, ec2, rsa] = await Promise.all([signingKey('ec-1'), signingKey('ec-2'), signingKey('rsa-1', 'RS256')]);
  });

  afterEach(async () => {
    tokens.close();
    await server.close();
  });

  async function setUp(published = jwks(ec1, rsa), warnings: string[] = []) {
    server = await startJwksServer(published);
    const dir = await tempDir({ 'tokens.json': { issuers: issuersOf(server.url) } });
    tokens = await tokensFromConfig(loadConfig({ TOKEN_CONFIG_FILE: join(dir, 'tokens.json'), JWKS_COOLDOWN_SECONDS: '1', JWKS_REFRESH_SECONDS: '0' }), {
      onKeySetError: (_url, error) => warnings.push(error.message),
      onKeySetUnfit: (_url, error) => warnings.push(error.message),
    });
    const { app } = await buildTestApp({ tokens: tokens.verifier, claims: tokens.claims, app: { keySets: () => tokens.keySets() } });
    return {
      decide: async (token: string) => readJson(await postJson(app, '/decide', { token, ...question })),
      readiness: async () => readJson(await app.request('/readyz')),
    };
  }

  const token = (key: SigningKey, tenant: string, claims: Record<string, unknown> = { sub: 'alice' }, audience = 'invoice-api') =>
    sign(key, { ...accountant, ...claims }, { issuer: `https://idp.test/tenant-${tenant}`, audience });

  it('fetches the key set once at start, once per rotation and once per cooldown in an outage, whatever the number of issuers', async () => {
    const { decide, readiness } = await setUp();
    await expect.poll(async () => (await readiness()).keySets).toEqual([{ url: server.url, state: 'loaded' }]);
    await sleep(100);
    expect(server.requests).toBe(1);

    // Each issuer keeps its own audience, algorithms and claim mapping.
    expect(await decide(await token(ec1, 'a'))).toMatchObject({ decision: 'permit' });
    expect(await decide(await token(rsa, 'b', { oid: 'alice' }))).toMatchObject({ decision: 'permit' });
    expect(await decide(await token(ec1, 'b', { oid: 'alice' }))).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token' }] });
    expect(await decide(await token(ec1, 'c', { sub: 'alice' }, 'billing-api'))).toMatchObject({ decision: 'permit' });
    expect(await decide(await token(ec1, 'c'))).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'claim "aud" invalid: check_failed' }] });
    expect(server.requests).toBe(1);

    // A rotation: the new kid, met by every issuer at once, is fetched once for all.
    server.publish(jwks(ec2, rsa));
    await sleep(1_100);
    const rotated = await Promise.all([
      token(ec2, 'a', { sub: 'alice', jti: 'r1' }),
      token(ec2, 'c', { sub: 'alice', jti: 'r2' }, 'billing-api'),
      token(ec2, 'a', { sub: 'bob', jti: 'r3' }),
    ]);
    for (const answer of await Promise.all(rotated.map(decide))) expect(answer).toMatchObject({ decision: 'permit' });
    expect(server.requests).toBe(2);

    // An outage: unknown kids at every issuer cost one fetch per cooldown, not one per issuer.
    server.mode = 'error';
    await sleep(1_100);
    const unknown = await signingKey('unknown');
    const foreign = await Promise.all(['a', 'b', 'c'].map((tenant) => token(unknown, tenant, { sub: 'mallory', oid: 'mallory' })));
    for (const answer of await Promise.all(foreign.map(decide))) expect(answer).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token' }] });
    expect(server.requests).toBe(3);
    expect((await readiness()).keySets).toEqual([{ url: server.url, state: 'stale' }]);
  });

  it('holds each issuer to its own algorithms: a set with no key for one issuer\'s is missing for it, and readiness says so', async () => {
    const warnings: string[] = [];
    // RSA keys only: tenants a and c accept ES256 alone, tenant b RS256.
    const { decide, readiness } = await setUp(jwks(rsa), warnings);
    await expect.poll(() => warnings.length).toBe(2);
    expect(warnings).toEqual(Array(2).fill(expect.stringMatching(/^answered a key set with no key for the accepted algorithms \(ES256\): /)));
    expect(server.requests).toBe(1);
    expect((await readiness()).keySets).toEqual([{ url: server.url, state: 'missing' }]);
    expect(await decide(await token(rsa, 'b', { oid: 'alice' }))).toMatchObject({ decision: 'permit' });
    expect(await decide(await token(ec1, 'a'))).toMatchObject({
      decision: 'deny',
      reasons: [{ code: 'invalid_token', detail: expect.stringMatching(/^key set unavailable: answered a key set with no key for the accepted algorithms \(ES256\)/) }],
    });
  });
});

describe('a key set fetcher shared by issuers', () => {
  it('gives an issuer that takes the set after a fetch the keys of that fetch, without another', async () => {
    const ec1 = await signingKey('ec-1');
    const server = await startJwksServer(jwks(ec1));
    onTestFinished(() => server.close());
    const fetcher = new KeySetFetcher({ url: server.url, refreshMs: 0 });
    await fetcher.refresh();
    const late = new RemoteKeySet({ fetcher, algorithms: ['ES256'] });
    expect(late.state()).toBe('loaded');
    const verifier = createJwtVerifier({ keys: late.getKey, issuer: 'https://idp.test/tenant-a', audience: ['invoice-api'], algorithms: ['ES256'] });
    await expect(verifier.verify(await sign(ec1, { sub: 'alice' }, { issuer: 'https://idp.test/tenant-a', audience: 'invoice-api' }))).resolves.toMatchObject({ sub: 'alice' });
    expect(server.requests).toBe(1);
  });
});
