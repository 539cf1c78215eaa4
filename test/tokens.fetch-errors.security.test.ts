import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { IntrospectionCache } from '../src/token/introspection-cache.js';
import { readTokenConfigFile } from '../src/token/config-file.js';
import { tokensFromConfig } from '../src/token/from-config.js';
import { createIntrospector } from '../src/token/introspect.js';
import { RemoteKeySet } from '../src/token/jwks.js';
import { createTokenVerifier } from '../src/token/token-verifier.js';
import { createJwtVerifier } from '../src/token/verify.js';
import { buildTestApp, defaultPolicyDir, postJson, readJson } from './helpers/app.js';
import { freePort } from './helpers/free-port.js';
import { startServer, type TestServer } from './helpers/http-server.js';
import { runServerToExit } from './helpers/process.js';
import { spawnServer, type ServerProcess } from './helpers/spawn-server.js';
import { sign, signingKey, type SigningKey } from './helpers/signing.js';
import { tempDir } from './helpers/tmp.js';

const query = { action: 'read', resource: { type: 'invoice', id: 'inv-1' } };
const secret = 'QSECRET';

/** Every way a key set or introspection endpoint fails, by path. */
function misbehave(req: IncomingMessage, res: ServerResponse): void {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  if (path === '/reset') req.socket.destroy();
  else if (path === '/status') res.writeHead(503).end('down');
  else if (path === '/huge') res.writeHead(200, { 'content-type': 'application/json' }).end(`{"keys":[],"pad":"${'x'.repeat(600 * 1024)}"}`);
  else if (path === '/not-json') res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys": [');
  else if (path === '/latin1') res.writeHead(200, { 'content-type': 'application/json' }).end(Buffer.from(JSON.stringify({ keys: [{ ...key.publicJwk, kid: 'k\u00e9' }] }), 'latin1'));
  else if (path === '/twice') res.writeHead(200, { 'content-type': 'application/json' }).end(`{"keys":[],"keys":[${JSON.stringify(key.publicJwk)}]}`);
  else if (path === '/redirect') res.writeHead(302, { location: `http://user:${secret}-location@127.0.0.1/keys?api_key=${secret}` }).end();
  // `/hang` answers nothing; neither does anything else.
}

let upstream: TestServer;
let key: SigningKey;

beforeAll(async () => {
  upstream = await startServer(misbehave);
  key = await signingKey('k1');
});
afterAll(() => upstream.close());

describe('key set and introspection failures: deny reasons, audit lines and log in words of our own', () => {
  let server: ServerProcess;
  let auditFile: string;
  let cases: [issuer: string, detail: string | RegExp][];
  let introspectionUrl: string;

  beforeAll(async () => {
    const base = upstream.url;
    const closed = `http://127.0.0.1:${await freePort()}`;
    const tls = base.replace('http://', 'https://');
    cases = [
      [`${closed}/jwks`, 'key set unavailable: unreachable: connection refused (ECONNREFUSED)'],
      // https: plain http to a host that is not loopback is refused at start (ALLOW_HTTP_TOKEN_URLS).
      ['https://pdp-test-keys.invalid/jwks', /^key set unavailable: unreachable: host not found \((ENOTFOUND|EAI_AGAIN)\)$/],
      [`${base}/reset`, /^key set unavailable: connection (closed before the answer was complete \(UND_ERR_SOCKET\)|reset \(ECONNRESET\))$/],
      [`${tls}/tls`, /^key set unavailable: TLS failed \([A-Z0-9_]+\)$/],
      [`${base}/hang`, 'key set unavailable: no answer within 1500 ms'],
      [`${base}/status`, 'key set unavailable: answered HTTP 503'],
      [`${base}/huge`, 'key set unavailable: answer larger than 524288 bytes'],
      [`${base}/not-json`, 'key set unavailable: answered something that is not JSON'],
      [`${base}/latin1`, 'key set unavailable: answered text that is not UTF-8'],
      [`${base}/twice`, 'key set unavailable: answered a key set refused at $.keys: duplicate key'],
      [`${base}/redirect`, 'key set unavailable: answered HTTP 302'],
    ];
    // Each issuer's key set URL is its own, with a query secret; the issuer names the case.
    const issuers = cases.map(([url], index) => ({ issuer: `https://idp-${index}.test`, jwksUrl: `${url}?api_key=${secret}-${index}`, audience: 'invoice-api' }));
    const dir = await tempDir({ 'tokens.json': { issuers } });
    auditFile = join(dir, 'audit.log');
    introspectionUrl = `${closed}/introspect?secret=${secret}-introspection`;
    server = spawnServer({
      POLICY_DIR: defaultPolicyDir,
      TOKEN_CONFIG_FILE: join(dir, 'tokens.json'),
      JWKS_TIMEOUT_MS: '1500',
      INTROSPECTION_URL: introspectionUrl,
      INTROSPECTION_CLIENT_ID: 'pdp',
      INTROSPECTION_CLIENT_SECRET: 'client-secret-0123456789',
      AUDIT_LOG_FILE: auditFile,
    });
  });
  afterAll(() => {
    server.child.kill();
  });

  async function decide(token: string): Promise<Record<string, unknown>> {
    const res = await fetch(`http://127.0.0.1:${await server.listening}/decide`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, ...query }),
    });
    expect(res.status).toBe(200);
    return readJson(res);
  }

  it('says what failed, never quoting the URL, in the answer, the audit line and the log', async () => {
    const details = await Promise.all(
      cases.map(async (_, index) => {
        const body = await decide(await sign(key, { sub: 'alice' }, { issuer: `https://idp-${index}.test`, audience: 'invoice-api' }));
        expect(body).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token' }] });
        return (body['reasons'] as { detail: string }[])[0]?.detail;
      }),
    );
    cases.forEach(([url, detail], index) => expect(details[index], url).toEqual(typeof detail === 'string' ? detail : expect.stringMatching(detail)));
    const opaque = await decide('an-opaque-token');
    expect(opaque).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'introspection unavailable: unreachable: connection refused (ECONNREFUSED)' }] });

    // Audit lines wait up to a second for their chunk to be written: more than expect.poll's default wait.
    await expect.poll(async () => (await readFile(auditFile, 'utf8').catch(() => '')).trim().split('\n').length, { timeout: 5_000 }).toBe(cases.length + 1);
    const audit = await readFile(auditFile, 'utf8');
    for (const detail of [...details, 'introspection unavailable: unreachable: connection refused (ECONNREFUSED)']) expect(audit).toContain(JSON.stringify(detail));
    for (const text of [JSON.stringify(details), audit]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain('.invalid/');
      expect(text).not.toContain('127.0.0.1:');
    }
    // The log names each failing key set, masked, and quotes no secret.
    await expect.poll(() => server.output()).toContain(`"url":"${cases[0]?.[0]}?api_key=***","err":"unreachable: connection refused (ECONNREFUSED)"`);
    // A key set that writes a member twice is named with the member's path.
    await expect.poll(() => server.output()).toContain(`"url":"${upstream.url}/twice?api_key=***","err":"answered a key set refused at $.keys: duplicate key"`);
    expect(server.output()).not.toContain(secret);
  });
});

describe('an introspection outage in the log', () => {
  it('is told once when lookups start failing and once when one answers again, URL masked', async () => {
    let failing = true;
    const introspection = await startServer((req, res) => {
      req.resume();
      if (failing) res.writeHead(500).end('down');
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ active: true, sub: 'alice', scope: 'invoice.read' }));
    });
    const server = spawnServer({
      POLICY_DIR: defaultPolicyDir,
      INTROSPECTION_URL: `${introspection.url}/introspect?secret=${secret}`,
      INTROSPECTION_CLIENT_ID: 'pdp',
      INTROSPECTION_CLIENT_SECRET: 'client-secret-0123456789',
      AUDIT_DECISIONS: 'none',
    });
    try {
      const url = `http://127.0.0.1:${await server.listening}/decide`;
      const decide = async (token: string) => {
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token, ...query }) });
        return ((await readJson(res))['reasons'] as { detail?: string }[])[0]?.detail;
      };
      const lines = (msg: string) => server.output().split('\n').filter((line) => line.includes(`"msg":"${msg}`));
      const down = 'introspection unavailable: opaque tokens are denied until it answers';
      for (let i = 0; i < 5; i++) expect(await decide(`opaque-${i}`)).toBe('introspection unavailable: answered HTTP 500');
      await expect.poll(() => lines(down).length).toBe(1);
      expect(lines(down)[0]).toContain(`"url":"${introspection.url}/introspect?secret=***","err":"introspection unavailable: answered HTTP 500"`);

      failing = false;
      for (let i = 5; i < 8; i++) expect(await decide(`opaque-${i}`)).toBe('no rule permits "read" on "invoice"');
      await expect.poll(() => lines('introspection answering again').length).toBe(1);
      failing = true;
      expect(await decide('opaque-8')).toBe('introspection unavailable: answered HTTP 500');
      await expect.poll(() => lines(down).length).toBe(2);
      expect(lines('introspection answering again')).toHaveLength(1);
      expect(server.output()).not.toContain(secret);
    } finally {
      server.child.kill();
      await introspection.close();
    }
  });
});

describe('a fetch error that quotes the URL (a URL with credentials, past the configuration check)', () => {
  it('reaches neither the deny reason of a key set nor that of introspection', async () => {
    const url = `http://svc:s3cretpw@127.0.0.1:${new URL(upstream.url).port}`;
    const keySet = new RemoteKeySet({ url: `${url}/jwks?api_key=${secret}`, refreshMs: 0 });
    const jwt = createJwtVerifier({ keys: keySet.getKey, issuer: 'https://idp.test', audience: ['invoice-api'], algorithms: ['ES256'] });
    const introspection = createIntrospector({
      url: `${url}/introspect?secret=${secret}`,
      clientId: 'pdp',
      clientSecret: 'client-secret',
      cache: new IntrospectionCache({ activeEntries: 10, inactiveEntries: 10, maxTtlMs: 60_000 }),
    });
    const { app } = await buildTestApp({ tokens: createTokenVerifier({ jwt, introspection }) });
    try {
      const token = await sign(key, { sub: 'alice' }, { issuer: 'https://idp.test', audience: 'invoice-api' });
      const bodies = await Promise.all([token, 'an-opaque-token'].map(async (t) => readJson(await postJson(app, '/decide', { token: t, ...query }))));
      expect(bodies.map((b) => b['reasons'])).toEqual([
        [{ code: 'invalid_token', detail: 'key set unavailable: request failed' }],
        [{ code: 'invalid_token', detail: 'introspection unavailable: request failed' }],
      ]);
    } finally {
      keySet.close();
    }
  });
});

describe('token endpoint URLs at start', () => {
  function problems(env: NodeJS.ProcessEnv): string[] {
    try {
      loadConfig({ JWT_ISSUER: 'https://idp.test', JWT_AUDIENCE: 'invoice-api', INTROSPECTION_CLIENT_ID: 'pdp', INTROSPECTION_CLIENT_SECRET: 'x', ...env });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message.split('\n').slice(1).map((line) => line.trim());
    }
    return [];
  }

  const keySetAdvice = 'must not carry a user or password (fetch refuses such a URL); a key set is fetched without credentials, though a query value such as ?api_key=… is allowed';

  it('refuses a user or password in a key set or introspection URL, naming the variable and not the secret', async () => {
    const run = await runServerToExit({
      JWT_ISSUER: 'https://idp.example',
      JWT_AUDIENCE: 'pdp',
      JWKS_URL: `https://svc:s3cretpw@127.0.0.1:1/jwks?api_key=${secret}`,
      INTROSPECTION_URL: 'https://u:pw1secret@as.example/introspect?secret=Q2SECRET',
      INTROSPECTION_CLIENT_ID: 'pdp',
      INTROSPECTION_CLIENT_SECRET: 'client-secret-0123456789',
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`JWKS_URL: ${keySetAdvice}`);
    expect(run.stderr).toContain('INTROSPECTION_URL: must not carry a user or password (fetch refuses such a URL); give the client credentials with INTROSPECTION_CLIENT_ID and INTROSPECTION_CLIENT_SECRET');
    for (const hidden of ['s3cretpw', secret, 'pw1secret', 'Q2SECRET']) expect(run.stderr).not.toContain(hidden);
  });

  it.each([
    ['a user and password', 'https://svc:pw@idp.test/jwks'],
    ['a user alone (a token as user name)', 'https://ghp_token@idp.test/jwks'],
    ['an empty password', 'https://svc:@idp.test/jwks'],
  ])('refuses %s in JWKS_URL and INTROSPECTION_JWKS_URL', (_, url) => {
    expect(problems({ JWKS_URL: url, INTROSPECTION_URL: 'https://as.test/introspect', INTROSPECTION_JWKS_URL: url, INTROSPECTION_JWT_ISSUER: 'https://as.test' })).toEqual([
      `JWKS_URL: ${keySetAdvice}`,
      `INTROSPECTION_JWKS_URL: ${keySetAdvice}`,
    ]);
  });

  it('refuses a port fetch never connects to, in every URL the token fetchers ask, and in TOKEN_CONFIG_FILE', async () => {
    const refused = (port: number) => `port ${port} is one fetch never connects to (a bad port of the Fetch Standard): serve the endpoint on another port`;
    expect(problems({ JWKS_URL: 'http://127.0.0.1:6000/jwks', INTROSPECTION_URL: 'https://as.test:10080/introspect', INTROSPECTION_JWKS_URL: 'http://localhost:1/jwks', INTROSPECTION_JWT_ISSUER: 'https://as.test' })).toEqual([
      `JWKS_URL: ${refused(6000)}`,
      `INTROSPECTION_URL: ${refused(10080)}`,
      `INTROSPECTION_JWKS_URL: ${refused(1)}`,
    ]);
    expect(problems({ JWKS_URL: 'http://127.0.0.1:6001/jwks', INTROSPECTION_URL: 'https://as.test:10081/introspect' })).toEqual([]);
    const dir = await tempDir({ 'tokens.json': { issuers: [{ issuer: 'https://a.test', jwksUrl: 'https://a.test:6666/jwks', audience: 'invoice-api' }] } });
    const run = await runServerToExit({ POLICY_DIR: defaultPolicyDir, TOKEN_CONFIG_FILE: join(dir, 'tokens.json') });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`TOKEN_CONFIG_FILE $.issuers[0].jwksUrl: ${refused(6666)}`);
  });

  it('refuses port 0, which fetch connects to nowhere, in every URL the token fetchers ask, and in TOKEN_CONFIG_FILE', async () => {
    const refused = 'port 0 is no port a client connects to (the system picks one only to listen on): give the port the endpoint is served on';
    expect(problems({ JWKS_URL: 'http://127.0.0.1:0/jwks', INTROSPECTION_URL: 'https://as.test:00/introspect', INTROSPECTION_JWKS_URL: 'https://as.test:0/jwks', INTROSPECTION_JWT_ISSUER: 'https://as.test' })).toEqual([
      `JWKS_URL: ${refused}`,
      `INTROSPECTION_URL: ${refused}`,
      `INTROSPECTION_JWKS_URL: ${refused}`,
    ]);
    const dir = await tempDir({ 'tokens.json': { issuers: [{ issuer: 'https://a.test', jwksUrl: 'https://a.test:0/jwks', audience: 'invoice-api' }] } });
    await expect(readTokenConfigFile(join(dir, 'tokens.json'))).rejects.toThrow(`TOKEN_CONFIG_FILE $.issuers[0].jwksUrl: ${refused}`);
  });

  it('refuses whitespace within a token URL (two URLs given for one), in the environment and in TOKEN_CONFIG_FILE', async () => {
    const refused = 'holds whitespace, which no URL does (RFC 3986): give one URL, a space in it written %20';
    expect(problems({ JWKS_URL: 'https://idp.test/jwks https://idp2.test/jwks', INTROSPECTION_URL: 'https://as.test/intro\tspect', INTROSPECTION_JWKS_URL: 'https://as.test/jwks,\nhttps://as2.test/jwks', INTROSPECTION_JWT_ISSUER: 'https://as.test' })).toEqual([
      `JWKS_URL: ${refused}`,
      `INTROSPECTION_URL: ${refused}`,
      `INTROSPECTION_JWKS_URL: ${refused}`,
    ]);
    const dir = await tempDir({
      'tokens.json': {
        issuers: [
          { issuer: 'https://a.test', jwksUrl: ' https://a.test/jwks ', audience: 'invoice-api' },
          { issuer: 'https://b.test', jwksUrl: 'https://b.test/jwks, https://c.test/jwks', audience: 'invoice-api' },
        ],
      },
    });
    await expect(readTokenConfigFile(join(dir, 'tokens.json'))).rejects.toThrow(`invalid token configuration:\n  TOKEN_CONFIG_FILE $.issuers[1].jwksUrl: ${refused}`);
  });

  it('refuses two URLs joined by a comma where one is fetched, in the environment and in TOKEN_CONFIG_FILE', async () => {
    const refused = 'holds a second URL after a comma (two given for one): give one URL';
    expect(problems({ JWKS_URL: 'https://idp.test/jwks,https://idp2.test/jwks', INTROSPECTION_URL: 'https://as.test,https://as2.test/introspect', INTROSPECTION_JWKS_URL: 'https://as.test/a,b/jwks', INTROSPECTION_JWT_ISSUER: 'https://as.test' })).toEqual([
      `JWKS_URL: ${refused}`,
      `INTROSPECTION_URL: ${refused}`,
    ]);
    const dir = await tempDir({ 'tokens.json': { issuers: [{ issuer: 'https://a.test', jwksUrl: 'https://a.test/jwks,http://localhost/jwks', audience: 'invoice-api' }] } });
    await expect(readTokenConfigFile(join(dir, 'tokens.json'))).rejects.toThrow(`invalid token configuration:\n  TOKEN_CONFIG_FILE $.issuers[0].jwksUrl: ${refused}`);
  });

  it('refuses a scheme fetch cannot ask', () => {
    expect(problems({ JWKS_URL: 'ftp://idp.test/jwks', INTROSPECTION_URL: 'file:///introspect' })).toEqual([
      'JWKS_URL: must be an http:// or https:// URL',
      'INTROSPECTION_URL: must be an http:// or https:// URL',
    ]);
  });

  it('takes a query string (an api_key), which the start log masks', () => {
    expect(problems({ JWKS_URL: `https://idp.test/jwks?api_key=${secret}`, INTROSPECTION_URL: `https://as.test/introspect?key=${secret}` })).toEqual([]);
  });

  it('refuses a user or password in a jwksUrl of TOKEN_CONFIG_FILE, naming the entry and not the secret', async () => {
    const dir = await tempDir({
      'tokens.json': {
        issuers: [
          { issuer: 'https://a.test', jwksUrl: 'https://a.test/jwks?api_key=fine', audience: 'invoice-api' },
          { issuer: 'https://b.test', jwksUrl: 'https://svc:filesecret@b.test/jwks', audience: 'invoice-api' },
        ],
      },
    });
    const failure = await tokensFromConfig(loadConfig({ TOKEN_CONFIG_FILE: join(dir, 'tokens.json') })).then(
      () => new Error('started'),
      (error: unknown) => error as Error,
    );
    expect(failure).toBeInstanceOf(ConfigError);
    expect(failure.message).toBe(`invalid token configuration:\n  TOKEN_CONFIG_FILE $.issuers[1].jwksUrl: ${keySetAdvice}`);
  });
});
