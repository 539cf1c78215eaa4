import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { createService } from '../src/service.js';
import { tokensFromConfig } from '../src/token/from-config.js';
import { runServerToExit } from './helpers/process.js';
import { tempDir } from './helpers/tmp.js';
import { sign, signingKey } from './helpers/signing.js';
import { jwks, makeKey, sign as signToken } from './helpers/tokens.js';

/** The shipped policies and one issuer whose keys are the JWKS_FILE `file`, with `env`. */
const withKeyFile = (file: string, env: Record<string, string> = {}) => ({
  POLICY_DIR: join(import.meta.dirname, '../policies'),
  JWKS_FILE: file,
  JWT_ISSUER: 'https://idp.example',
  JWT_AUDIENCE: 'invoice-api',
  ...env,
});

// A file or folder the service cannot use at start is named with the variable that gave it, in
// the one line the process prints before it exits 1.

describe.concurrent('the server process refusing to start', () => {
  it('names, before the settings it refuses, a variable that looks like a setting but is not read', async ({ expect }) => {
    const { code, stderr } = await runServerToExit({
      POLICY_DIR: join(import.meta.dirname, '../policies'),
      JWKS_URL: 'https://idp.example/jwks',
      JWT_ISUER: 'https://issuer.example',
      JWT_AUDIENCE: 'invoice-api',
    });
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines[0]).toBe('invoice-pdp: unknown setting JWT_ISUER: not read (did you mean JWT_ISSUER?)');
    expect(lines.slice(1).join('\n')).toContain('JWT_ISSUER: required when a key set is configured');
    // Names only: a value may be a secret.
    expect(stderr).not.toContain('issuer.example');
  });

  it.for(['1', '2'])('names an unread variable once when a problem found after the settings stops the start (WORKERS=%s)', async (workers, { expect }) => {
    const { code, stderr } = await runServerToExit({ POLICY_DIR: '/nonexistent', WORKERS: workers, CACHE_TTL_SECOND: '60' });
    expect(code).toBe(1);
    // The warning logged once the settings load; no plain line again beside the POLICY_DIR problem.
    expect(stderr.split('\n').filter((line) => line.includes('CACHE_TTL_SECOND'))).toEqual([expect.stringContaining('"msg":"unknown setting: not read"')]);
    expect(stderr).toMatch(/^invoice-pdp: POLICY_DIR: \/nonexistent \$: cannot read policy directory: ENOENT/m);
  });

  it('names POLICY_DIR when the policy folder cannot be read', async ({ expect }) => {
    const { code, stderr } = await runServerToExit({ POLICY_DIR: '/nonexistent' });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^invoice-pdp: POLICY_DIR: \/nonexistent \$: cannot read policy directory: ENOENT/);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });

  it('names JWKS_FILE when the key file cannot be read', async ({ expect }) => {
    const { code, stderr } = await runServerToExit(withKeyFile('/nonexistent'));
    expect(code).toBe(1);
    expect(stderr).toMatch(/^invoice-pdp: JWKS_FILE: key set \/nonexistent: ENOENT/);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });

  it('refuses a JWKS_FILE of private keys, which jose refuses at every verification', async ({ expect }) => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const dir = await tempDir({ 'private.json': { keys: [{ ...(await exportJWK(privateKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] } });
    const { code, stderr } = await runServerToExit(withKeyFile(join(dir, 'private.json')));
    expect(code).toBe(1);
    expect(stderr).toMatch(/^invoice-pdp: JWKS_FILE: key set \S+private\.json: holds no usable signing key \(a public key,/);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });

  it.for([
    ['not JSON', '{"keys": [{"kty": "EC",}]}', 'not valid JSON at line 1, column 24: a "," before "}": JSON has no comma after the last member'],
    ['a key member written twice', '{"keys": [{"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA", "x": "BBBB"}]}', '$.keys[0].x: duplicate key'],
  ] as const)('refuses a JWKS_FILE that is %s, by place', async ([, text, message], { expect }) => {
    const dir = await tempDir({ 'keys.json': text });
    const { code, stderr } = await runServerToExit(withKeyFile(join(dir, 'keys.json')));
    expect(code).toBe(1);
    expect(stderr).toBe(`invoice-pdp: JWKS_FILE: key set ${join(dir, 'keys.json')}: ${message}\n`);
  });

  it('refuses a JWKS_FILE with no key for JWT_ALGORITHMS, which would deny every token', async ({ expect }) => {
    const dir = await tempDir({ 'ec.json': jwks([await makeKey('ES256')]) });
    const { code, stderr } = await runServerToExit(withKeyFile(join(dir, 'ec.json'), { JWT_ALGORITHMS: 'RS256,PS256' }));
    expect(code).toBe(1);
    expect(stderr).toMatch(/^invoice-pdp: JWKS_FILE: key set \S+ec\.json: holds no key for the accepted algorithms \(RS256, PS256\)/);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('the service start-up naming the setting at fault', () => {
  it('names POLICY_DIR before the problems of a policy set that does not load', async () => {
    const dir = await tempDir({ 'broken.json': '{ "id": "docs", "resource": "doc", "rules": [' });
    const failure = createService(loadConfig({ POLICY_DIR: dir }), pino({ level: 'silent' }));
    await expect(failure).rejects.toBeInstanceOf(ConfigError);
    await expect(failure).rejects.toThrow(/^POLICY_DIR: broken\.json \$/);
  });

  it('names INTROSPECTION_JWKS_FILE', async () => {
    const config = loadConfig({
      INTROSPECTION_URL: 'https://idp.example/introspect',
      INTROSPECTION_CLIENT_ID: 'pdp',
      INTROSPECTION_CLIENT_SECRET: 'secret',
      INTROSPECTION_JWT_ISSUER: 'https://idp.example',
      INTROSPECTION_JWKS_FILE: '/nonexistent/introspection.json',
    });
    const failure = tokensFromConfig(config);
    await expect(failure).rejects.toBeInstanceOf(ConfigError);
    await expect(failure).rejects.toThrow(/^INTROSPECTION_JWKS_FILE: key set \/nonexistent\/introspection\.json: ENOENT/);
  });

  it('refuses a JWKS_FILE with no usable signing key, and leaves out the unusable keys of one that has', async () => {
    const weak = { ...generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }), use: 'sig' };
    const good = await signingKey('good', 'RS256');
    const kidless = { ...good.publicJwk, kid: undefined };
    const dir = await tempDir({ 'none.json': { keys: [weak, { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA' }, { ...good.publicJwk, key_ops: [] }] }, 'some.json': { keys: [weak, kidless] } });
    const env = { JWT_ISSUER: 'https://idp.example', JWT_AUDIENCE: 'invoice-api', JWT_ALGORITHMS: 'RS256' };
    const failure = tokensFromConfig(loadConfig({ ...env, JWKS_FILE: join(dir, 'none.json') }));
    await expect(failure).rejects.toBeInstanceOf(ConfigError);
    await expect(failure).rejects.toThrow(/^JWKS_FILE: key set \S+none\.json: holds no usable signing key/);
    // The 1,024-bit key imports, but jose refuses it at verification: met first among a kid-less
    // token's candidates, it stopped the search for the key that fits.
    const tokens = await tokensFromConfig(loadConfig({ ...env, JWKS_FILE: join(dir, 'some.json') }));
    const token = await sign(good, { sub: 'alice' }, { issuer: env.JWT_ISSUER, audience: env.JWT_AUDIENCE, header: { kid: undefined } });
    await expect(tokens.verifier.verify(token)).resolves.toMatchObject({ sub: 'alice' });
  });

  it('refuses a JWKS_FILE listing more than 64 keys, and takes one of 64', async () => {
    const key = await signingKey('k1');
    const listing = (count: number) => ({ keys: Array.from({ length: count }, (_, i) => ({ ...key.publicJwk, kid: `k${i}` })) });
    const dir = await tempDir({ 'many.json': listing(65), 'enough.json': listing(64) });
    const env = { JWT_ISSUER: 'https://idp.example', JWT_AUDIENCE: 'invoice-api' };
    const failure = tokensFromConfig(loadConfig({ ...env, JWKS_FILE: join(dir, 'many.json') }));
    await expect(failure).rejects.toBeInstanceOf(ConfigError);
    await expect(failure).rejects.toThrow(/^JWKS_FILE: key set \S+many\.json: lists 65 keys, more than the 64 read$/);
    const tokens = await tokensFromConfig(loadConfig({ ...env, JWKS_FILE: join(dir, 'enough.json') }));
    await expect(tokens.verifier.verify(await sign(key, { sub: 'alice' }, { issuer: env.JWT_ISSUER, audience: env.JWT_AUDIENCE, kid: 'k63' }))).resolves.toMatchObject({ sub: 'alice' });
  });

  it('names the TOKEN_CONFIG_FILE entry, counted from the file\'s first issuer', async () => {
    const dir = await tempDir({
      'keys.json': jwks([await makeKey('ES256')]),
      'tokens.json': {
        issuers: [
          { issuer: 'https://a.example', audience: 'api', jwksFile: 'keys.json' },
          { issuer: 'https://b.example', audience: 'api', jwksFile: 'missing.json' },
        ],
      },
    });
    const config = loadConfig({ TOKEN_CONFIG_FILE: join(dir, 'tokens.json'), JWKS_FILE: join(dir, 'keys.json'), JWT_ISSUER: 'https://c.example', JWT_AUDIENCE: 'api' });
    const failure = tokensFromConfig(config);
    await expect(failure).rejects.toBeInstanceOf(ConfigError);
    await expect(failure).rejects.toThrow(/^TOKEN_CONFIG_FILE \$\.issuers\[1\]\.jwksFile: key set \S+missing\.json: ENOENT/);
  });

  it('holds a key file to the algorithms accepted from it: an entry\'s own, and a key\'s "alg"', async () => {
    const rsa = await makeKey('RS256');
    const p384 = await exportJWK((await generateKeyPair('ES384', { extractable: true })).publicKey);
    const dir = await tempDir({
      'rsa.json': jwks([rsa]),
      'ps.json': { keys: [{ ...rsa.publicJwk, alg: 'PS256' }] },
      'p384.json': { keys: [{ ...p384, kid: 'p384' }] },
      'tokens.json': { issuers: [{ issuer: 'https://a.example', audience: 'api', jwksFile: 'rsa.json', algorithms: ['ES256', 'EdDSA'] }] },
      'fits.json': { issuers: [{ issuer: 'https://a.example', audience: 'api', jwksFile: 'rsa.json', algorithms: ['RS256'] }] },
    });
    const byFile = tokensFromConfig(loadConfig({ TOKEN_CONFIG_FILE: join(dir, 'tokens.json'), JWT_ALGORITHMS: 'RS256' }));
    await expect(byFile).rejects.toThrow(/^TOKEN_CONFIG_FILE \$\.issuers\[0\]\.jwksFile: key set \S+rsa\.json: holds no key for the accepted algorithms \(ES256, EdDSA\)/);
    // A key naming PS256 is never picked for an RS256 token.
    const byAlg = tokensFromConfig(loadConfig({ JWKS_FILE: join(dir, 'ps.json'), JWT_ISSUER: 'https://b.example', JWT_AUDIENCE: 'api', JWT_ALGORITHMS: 'RS256' }));
    await expect(byAlg).rejects.toThrow(/^JWKS_FILE: key set \S+ps\.json: holds no key for the accepted algorithms \(RS256\)/);
    // An EC key without "alg" is picked for the algorithm of its curve alone.
    const byCurve = tokensFromConfig(loadConfig({ JWKS_FILE: join(dir, 'p384.json'), JWT_ISSUER: 'https://b.example', JWT_AUDIENCE: 'api', JWT_ALGORITHMS: 'ES256' }));
    await expect(byCurve).rejects.toThrow(/^JWKS_FILE: key set \S+p384\.json: holds no key for the accepted algorithms \(ES256\)/);
    const tokens = await tokensFromConfig(loadConfig({ TOKEN_CONFIG_FILE: join(dir, 'fits.json') }));
    await expect(tokens.verifier.verify(await signToken(rsa, { sub: 'alice' }, { iss: 'https://a.example', aud: 'api' }))).resolves.toMatchObject({ sub: 'alice' });
  });
});
