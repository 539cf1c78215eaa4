import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callerKeys } from '../src/caller/keys.js';
import { loadConfig } from '../src/config.js';
import { startServer, type RunningServer } from '../src/http/server.js';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { interopDir, todoUsers } from './helpers/authzen.js';
import { freePort } from './helpers/free-port.js';
import { auditEntries, buildObservedApp, sample, scrape } from './helpers/telemetry.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];
type Headers = Record<string, string>;

const trustedKey = 'trusted-key-0123456789abcdef';
const apiKey = 'api-key-0123456789abcdef';
const keys = callerKeys({ api: [apiKey], trusted: [trustedKey], admin: [] });
const bearer = (key: string): Headers => ({ authorization: `Bearer ${key}` });

const evaluation = {
  subject: { type: 'user', id: todoUsers.morty.pid },
  action: { name: 'can_update_todo' },
  resource: { type: 'todo', id: 't-1', properties: { ownerID: todoUsers.morty.email } },
};

/** A valid body for each endpoint the metadata lists, by its metadata field. */
const bodies: Record<string, unknown> = {
  access_evaluation_endpoint: evaluation,
  access_evaluations_endpoint: { evaluations: [evaluation] },
  search_subject_endpoint: { subject: { type: 'user' }, action: { name: 'view' }, resource: { type: 'record', id: '101' } },
  search_resource_endpoint: { subject: { type: 'user', id: 'alice' }, action: { name: 'delete' }, resource: { type: 'record' } },
  search_action_endpoint: { subject: { type: 'user', id: 'alice' }, resource: { type: 'record', id: '101' } },
};

/** The app as started from the environment: PUBLIC_URL through loadConfig, as main.ts does. */
async function appFor(env: Record<string, string>, extra: Parameters<typeof buildTestApp>[0] = {}) {
  const config = loadConfig(env);
  return buildTestApp({ policyDir: interopDir, ...extra, app: { publicUrl: config.PUBLIC_URL, ...extra.app } });
}

describe('AuthZEN endpoints under the path of PUBLIC_URL', () => {
  let app: App;
  beforeAll(async () => {
    ({ app } = await appFor({ PUBLIC_URL: 'https://pdp.example.com/authz' }));
  });

  it('answers every endpoint the metadata advertises at the advertised path, and at the unprefixed one a path-stripping proxy forwards to', async () => {
    const metadata = await readJson(await app.request('/.well-known/authzen-configuration/authz'));
    expect(metadata.policy_decision_point).toBe('https://pdp.example.com/authz');
    for (const [field, body] of Object.entries(bodies)) {
      const advertised = new URL(metadata[field] as string).pathname;
      expect(advertised, field).toMatch(/^\/authz\/access\/v1\//);
      const direct = await postJson(app, advertised, body);
      const stripped = await postJson(app, advertised.slice('/authz'.length), body);
      expect(direct.status, advertised).toBe(200);
      expect(stripped.status, advertised).toBe(200);
      const [a, b] = [await readJson(direct), await readJson(stripped)];
      // The same decisions (a decision id differs between two requests).
      expect(JSON.stringify(a, (key, value: unknown) => (key === 'decision_id' ? undefined : value)), advertised)
        .toBe(JSON.stringify(b, (key, value: unknown) => (key === 'decision_id' ? undefined : value)));
    }
  });

  it('serves only the AuthZEN endpoints there: /decide, the probes and the metadata stay where they are', async () => {
    for (const [method, path] of [['POST', '/authz/decide'], ['GET', '/authz/healthz'], ['GET', '/authz/.well-known/authzen-configuration'], ['POST', '/authz/access/v1/evaluation/'], ['POST', '/AUTHZ/access/v1/evaluation']] as const) {
      const res = await app.request(path, { method, headers: { 'content-type': 'application/json' }, body: method === 'POST' ? JSON.stringify(evaluation) : undefined });
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type'), path).toBe('application/problem+json');
    }
  });

  it('echoes X-Request-ID and applies the body limit as at /access/v1', async () => {
    const { app: small } = await appFor({ PUBLIC_URL: 'https://pdp.example.com/authz' }, { app: { maxBodyBytes: 1024 } });
    const big = { ...evaluation, context: { pad: 'x'.repeat(2048) } };
    for (const path of ['/authz/access/v1/evaluation', '/access/v1/evaluation']) {
      const ok = await postJson(small, path, evaluation, { 'x-request-id': 'prefixed-1' });
      expect(ok.status, path).toBe(200);
      expect(ok.headers.get('x-request-id'), path).toBe('prefixed-1');
      const tooLarge = await postJson(small, path, big, { 'x-request-id': 'prefixed-2' });
      expect(tooLarge.status, path).toBe(413);
      expect(tooLarge.headers.get('x-request-id'), path).toBe('prefixed-2');
      expect(await readJson(tooLarge), path).toMatchObject({ type: 'urn:invoice-pdp:problem:payload_too_large', requestId: 'prefixed-2' });
    }
  });
});

describe('caller authentication under the path of PUBLIC_URL', () => {
  let app: App;
  beforeAll(async () => {
    ({ app } = await appFor({ PUBLIC_URL: 'https://pdp.example.com/authz' }, { app: { callers: keys } }));
  });

  const answer = async (res: Response) => {
    const body = await readJson(res);
    delete body.instance;
    return { status: res.status, challenge: res.headers.get('www-authenticate'), type: res.headers.get('content-type'), body };
  };

  it.each([
    ['no caller key', {}, 401],
    ['an unknown key', bearer('unknown-key-0123456789abcdef'), 401],
    ['a key not trusted to state subjects', bearer(apiKey), 403],
  ])('answers a request with %s as at /access/v1', async (_name, headers, status) => {
    for (const path of ['/access/v1/evaluation', '/access/v1/evaluations', '/access/v1/search/resource', '/access/v1/not-an-endpoint']) {
      const plain = await answer(await postJson(app, path, evaluation, { 'x-request-id': 'auth-1', ...headers }));
      const prefixed = await answer(await postJson(app, `/authz${path}`, evaluation, { 'x-request-id': 'auth-1', ...headers }));
      expect(plain.status, path).toBe(status);
      expect(prefixed, path).toEqual(plain);
    }
  });

  it('lets a trusted caller through', async () => {
    const res = await postJson(app, '/authz/access/v1/evaluation', evaluation, bearer(trustedKey));
    expect(res.status).toBe(200);
    expect((await readJson(res)).decision).toBe(true);
  });

  it('without caller keys, accepts every caller as trusted there too, as at /access/v1', async () => {
    const { app: open } = await appFor({ PUBLIC_URL: 'https://pdp.example.com/authz' });
    const res = await postJson(open, '/authz/access/v1/evaluation', evaluation);
    expect(res.status).toBe(200);
  });
});

describe('metrics and audit under the path of PUBLIC_URL', () => {
  it('counts the request by its route template and the decision by its AuthZEN endpoint, and audits it alike', async () => {
    const observed = await buildObservedApp({ policyDir: interopDir, app: { publicUrl: loadConfig({ PUBLIC_URL: 'https://pdp.example.com/authz' }).PUBLIC_URL } });
    const before = await scrape(observed.app);
    await postJson(observed.app, '/authz/access/v1/evaluation', evaluation, { 'x-request-id': 'audited-1' });
    await postJson(observed.app, '/authz/access/v1/search/resource', bodies['search_resource_endpoint']);
    await postJson(observed.app, '/authz/access/v1/evaluation', '{not json');
    const after = await scrape(observed.app);
    const delta = (name: string, labels: Record<string, string>) => (sample(after, name, labels) ?? 0) - (sample(before, name, labels) ?? 0);
    expect(delta('http_requests_total', { method: 'POST', route: '/authz/access/v1/evaluation', status: '200' })).toBe(1);
    expect(delta('http_requests_total', { method: 'POST', route: '/authz/access/v1/evaluation', status: '400' })).toBe(1);
    expect(delta('http_requests_total', { method: 'POST', route: '/authz/access/v1/search/resource', status: '200' })).toBe(1);
    expect(delta('pdp_decisions_total', { decision: 'permit', endpoint: 'authzen_evaluation', source: 'evaluated' })).toBe(1);
    expect(delta('pdp_requests_rejected_total', { reason: 'malformed_json' })).toBe(1);
    const entries = await auditEntries(observed.sink);
    expect(entries.find((entry) => entry.requestId === 'audited-1')).toMatchObject({ endpoint: 'authzen_evaluation' });
  });
});

describe('a PEP following the metadata of a real server', () => {
  let server: RunningServer;
  let base: string;
  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}/authz`;
    const { app } = await appFor({ PUBLIC_URL: base });
    server = await startServer(app.fetch, { port, hostname: '127.0.0.1' });
  });
  afterAll(async () => {
    await server.shutdown(1_000);
  });

  it('finds the document at the well-known path of the identifier, with that identifier, and reaches every endpoint it lists', async () => {
    const identifier = new URL(base);
    const res = await fetch(`${identifier.origin}/.well-known/authzen-configuration${identifier.pathname}`);
    expect(res.status).toBe(200);
    const metadata = (await res.json()) as Record<string, string>;
    expect(metadata.policy_decision_point).toBe(base);
    for (const [field, body] of Object.entries(bodies)) {
      const answer = await fetch(metadata[field] ?? '', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(answer.status, field).toBe(200);
    }
  });
});
