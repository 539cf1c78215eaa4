import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { tokensFromConfig, type Tokens } from '../src/token/from-config.js';
import { buildTestApp, readJson } from './helpers/app.js';
import { startJwksServer, type JwksServer } from './helpers/jwks-server.js';
import { jwks, sign, signingKey } from './helpers/signing.js';

describe('/readyz reports remote token key sets', () => {
  let server: JwksServer;
  let tokens: Tokens;

  afterEach(async () => {
    tokens.close();
    await server.close();
  });

  async function readiness(): Promise<{ status: number; body: Record<string, unknown> }> {
    const { app } = await buildTestApp({ app: { keySets: () => tokens.keySets() } });
    const res = await app.request('/readyz');
    return { status: res.status, body: await readJson(res) };
  }

  it('as missing before the first fetch succeeds, loaded after, stale once a refresh fails; always ready', async () => {
    server = await startJwksServer(jwks(await signingKey('k1')));
    server.mode = 'error';
    tokens = await tokensFromConfig(
      loadConfig({ JWKS_URL: server.url, JWT_ISSUER: 'https://idp.test/', JWT_AUDIENCE: 'invoice-api', JWKS_COOLDOWN_SECONDS: '0', JWKS_REFRESH_SECONDS: '0' }),
    );
    const url = server.url;
    await expect.poll(async () => (await readiness()).body.keySets).toEqual([{ url, state: 'missing' }]);
    expect((await readiness()).status).toBe(200);

    server.mode = 'ok';
    const [entry] = tokens.keySets();
    expect(entry?.state).toBe('missing');
    // A refresh as the background timer or an unknown kid would trigger it.
    await refreshAll(tokens);
    expect((await readiness()).body.keySets).toEqual([{ url, state: 'loaded' }]);

    server.mode = 'error';
    await refreshAll(tokens);
    const stale = await readiness();
    expect(stale.body.keySets).toEqual([{ url, state: 'stale' }]);
    expect(stale.status).toBe(200);
  });

  it('as missing, with a warning naming the algorithms, while the key server lists no key for the accepted ones', async () => {
    const [rsa, ec] = await Promise.all([signingKey('rsa-1', 'RS256'), signingKey('ec-1')]);
    server = await startJwksServer(jwks(rsa));
    const warnings: string[] = [];
    tokens = await tokensFromConfig(
      loadConfig({ JWKS_URL: server.url, JWT_ISSUER: 'https://idp.test/', JWT_AUDIENCE: 'invoice-api', JWT_ALGORITHMS: 'ES256', JWKS_COOLDOWN_SECONDS: '0', JWKS_REFRESH_SECONDS: '0' }),
      { onKeySetUnfit: (_url, error) => warnings.push(error.message) },
    );
    const url = server.url;
    await expect.poll(() => warnings.length).toBe(1);
    expect(warnings[0]).toMatch(/^answered a key set with no key for the accepted algorithms \(ES256\): /);
    expect((await readiness()).body.keySets).toEqual([{ url, state: 'missing' }]);
    const token = await sign(ec, { sub: 'alice' }, { issuer: 'https://idp.test/', audience: 'invoice-api' });
    await expect(tokens.verifier.verify(token)).rejects.toThrow(/no key for the accepted algorithms/);

    // The issuer starts publishing its EC key: taken at the next fetch, and dropped once the server lists it no more.
    server.publish(jwks(rsa, ec));
    await refreshAll(tokens);
    expect((await readiness()).body.keySets).toEqual([{ url, state: 'loaded' }]);
    await expect(tokens.verifier.verify(token)).resolves.toMatchObject({ sub: 'alice' });
    server.publish(jwks(rsa));
    await refreshAll(tokens);
    expect((await readiness()).body.keySets).toEqual([{ url, state: 'missing' }]);
    await expect(tokens.verifier.verify(token)).rejects.toThrow(/^key set unavailable: answered a key set with no key for the accepted algorithms \(ES256\)/);
  });
});

/** Waits for a key-set fetch the way a request triggers one: a token whose kid is unknown. */
async function refreshAll(tokens: Tokens): Promise<void> {
  const token = await sign(await signingKey('unknown'), {}, { issuer: 'https://idp.test/', audience: 'invoice-api' });
  await tokens.verifier.verify(token).catch(() => undefined);
}
