import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { callerKeys, type CallerKeys } from '../src/caller/keys.js';
import { buildTestApp, postJson, readJson } from './helpers/app.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];
type Headers = Record<string, string>;

const apiKey = 'api-key-0123456789abcdef';
const hashedApiKey = 'hashed-key-0123456789abcdef';
const upperHashedApiKey = 'upper-hashed-key-0123456789abcdef';
const trustedKey = 'trusted-key-0123456789abcdef';
const adminKey = 'admin-key-0123456789abcdef';
const sha256 = (key: string) => `sha256:${createHash('sha256').update(key).digest('hex')}`;

const keys: CallerKeys = callerKeys({ api: [apiKey, sha256(hashedApiKey), sha256(upperHashedApiKey).toUpperCase()], trusted: [trustedKey], admin: [adminKey] });

const question = { action: 'read', resource: { type: 'invoice', properties: { region: 'EU' } } };
const subject = { id: 'alice', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } };

/** Every decision endpoint: adding one is one line here, and every case below runs against it. */
const protectedEndpoints: readonly { readonly name: string; readonly call: (app: App, headers: Headers) => Response | Promise<Response> }[] = [
  { name: 'POST /decide', call: (app, headers) => postJson(app, '/decide', { token: 'opaque', ...question }, headers) },
  { name: 'POST /access/v1/evaluation', call: (app, headers) => postJson(app, '/access/v1/evaluation', { subject: { type: 'user', id: 'alice' }, ...question }, headers) },
  { name: 'POST /access/v1/evaluations', call: (app, headers) => postJson(app, '/access/v1/evaluations', { evaluations: [] }, headers) },
  { name: 'POST /access/v1/search/resource', call: (app, headers) => postJson(app, '/access/v1/search/resource', {}, headers) },
];

const bearer = (key: string): Headers => ({ authorization: `Bearer ${key}` });
const insufficientScope = 'Bearer realm="invoice-pdp", error="insufficient_scope"';

describe.each(protectedEndpoints)('caller authentication: $name', ({ call }) => {
  let app: App;
  beforeAll(async () => {
    ({ app } = await buildTestApp({ app: { callers: keys } }));
  });

  it.each([
    ['no Authorization header', {}, 'Bearer realm="invoice-pdp"'],
    ['an unknown key', bearer('unknown-key-0123456789abcdef'), 'Bearer realm="invoice-pdp", error="invalid_token"'],
    ['an admin key', bearer(adminKey), 'Bearer realm="invoice-pdp", error="invalid_token"'],
    ['the hash instead of the key', bearer(sha256(hashedApiKey)), 'Bearer realm="invoice-pdp", error="invalid_token"'],
    ['the upper-case hash instead of the key', bearer(sha256(upperHashedApiKey).toUpperCase()), 'Bearer realm="invoice-pdp", error="invalid_token"'],
    ['the key as Basic credentials', { authorization: `Basic ${Buffer.from(`x:${apiKey}`).toString('base64')}` }, 'Bearer realm="invoice-pdp"'],
    ['the key without a scheme', { authorization: apiKey }, 'Bearer realm="invoice-pdp"'],
    ['the key run into the scheme, with no space between', { authorization: `Bearer${apiKey}` }, 'Bearer realm="invoice-pdp"'],
    ['an empty bearer credential', { authorization: 'Bearer ' }, 'Bearer realm="invoice-pdp"'],
    ['two keys', { authorization: `Bearer ${apiKey} ${trustedKey}` }, 'Bearer realm="invoice-pdp", error="invalid_token"'],
    ['a key with a prefix', bearer(`x${apiKey}`), 'Bearer realm="invoice-pdp", error="invalid_token"'],
    ['a key longer than any key may be', bearer('k'.repeat(600)), 'Bearer realm="invoice-pdp", error="invalid_token"'],
    ['a key beyond ASCII', bearer(`${apiKey}\u00e9`), 'Bearer realm="invoice-pdp", error="invalid_token"'],
  ])('answers 401 problem+json for %s', async (_name, headers, challenge) => {
    const res = await call(app, { 'x-request-id': 'req-401', ...headers });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('www-authenticate')).toBe(challenge);
    const sent = challenge.includes('invalid_token');
    expect(await readJson(res)).toMatchObject({
      type: 'urn:invoice-pdp:problem:unauthenticated',
      status: 401,
      requestId: 'req-401',
      detail: sent ? 'the caller key is not accepted' : 'send a caller key as "Authorization: Bearer <key>"',
    });
  });

  it.each([
    ['an API key', bearer(apiKey)],
    ['an API key configured as sha256:<hex>', bearer(hashedApiKey)],
    ['an API key configured as SHA256:<HEX>', bearer(upperHashedApiKey)],
    ['a trusted key', bearer(trustedKey)],
    ['a lower-case scheme', { authorization: `bearer ${apiKey}` }],
  ])('lets %s through', async (_name, headers) => {
    const res = await call(app, headers);
    expect(res.status).not.toBe(401);
    // Accepted; an API key asking an AuthZEN endpoint is answered 403, challenged for more than it gives.
    expect(res.headers.get('www-authenticate')).toBe(res.status === 403 ? insufficientScope : null);
  });
});

describe('caller authentication: what callers may send', () => {
  let app: App;
  beforeAll(async () => {
    ({ app } = await buildTestApp({ app: { callers: keys } }));
    // A probe behind the protected prefix, to see the caller the middleware put in the context.
    app.get('/decide/probe-caller', (c) => c.json(c.get('caller')));
  });

  it('refuses pre-verified subject claims from an untrusted caller (403, $.subject)', async () => {
    const res = await postJson(app, '/decide', { subject, ...question }, bearer(apiKey));
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    // RFC 6750 §3: a bearer credential that does not give access is answered with a challenge, here insufficient_scope (§3.1).
    expect(res.headers.get('www-authenticate')).toBe(insufficientScope);
    expect(await readJson(res)).toMatchObject({ type: 'urn:invoice-pdp:problem:forbidden', errors: [{ path: '$.subject' }] });
  });

  it('accepts pre-verified subject claims from a trusted caller', async () => {
    const res = await postJson(app, '/decide', { subject, action: 'read', resource: { type: 'invoice', properties: { region: 'EU', invoice_type: 'purchase' } } }, bearer(trustedKey));
    expect(res.status).toBe(200);
    expect(await readJson(res)).toMatchObject({ decision: 'permit' });
  });

  it.each([
    ['blank', '   '],
    ['whitespace and invisible characters only', '\u00a0\u200b\t'],
  ])('refuses a trusted caller\'s subject id that is %s (400, $.subject.id), as a token naming such a subject is denied', async (_, id) => {
    const authzenSubject = { type: 'user', id };
    const message = 'not only whitespace, control or invisible characters: such an id names no one, as a token whose subject claim holds one names no subject';
    const refused: [path: string, body: object, at: string][] = [
      ['/decide', { subject: { ...subject, id }, ...question }, '$.subject.id'],
      ['/access/v1/evaluation', { subject: authzenSubject, action: { name: 'read' }, resource: { type: 'invoice', id: 'inv-1' } }, '$.subject.id'],
      ['/access/v1/evaluations', { subject: authzenSubject, action: { name: 'read' }, evaluations: [{ resource: { type: 'invoice', id: 'inv-1' } }] }, '$.subject.id'],
      ['/access/v1/search/resource', { subject: authzenSubject, action: { name: 'read' }, resource: { type: 'invoice' } }, '$.subject.id'],
      ['/access/v1/search/action', { subject: authzenSubject, resource: { type: 'invoice', id: 'inv-1' } }, '$.subject.id'],
    ];
    for (const [path, body, at] of refused) {
      const res = await postJson(app, path, body, bearer(trustedKey));
      expect(res.status, path).toBe(400);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(await readJson(res), path).toMatchObject({
        type: 'urn:invoice-pdp:problem:invalid_request',
        errors: [{ path: at, message }],
      });
    }
    // An item of a batch is refused alone, as any invalid item is: decision false, saying why.
    const batch = { action: { name: 'read' }, evaluations: [{ subject: authzenSubject, resource: { type: 'invoice', id: 'inv-1' } }], options: { include_reasons: true } };
    const res = await postJson(app, '/access/v1/evaluations', batch, bearer(trustedKey));
    expect(await readJson(res)).toMatchObject({ evaluations: [{ decision: false, context: { error: { status: 400, errors: [{ path: '$.evaluations[0].subject.id', message }] } } }] });
  });

  it('lets an untrusted caller send a token (a deny here: no verifier is configured)', async () => {
    const res = await postJson(app, '/decide', { token: 'opaque', ...question }, bearer(apiKey));
    expect(res.status).toBe(200);
    expect(await readJson(res)).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token' }] });
  });

  it('refuses AuthZEN requests from an untrusted caller (403, $.subject) and serves trusted ones', async () => {
    const body = { subject: { type: 'user', id: 'alice', properties: subject.properties }, action: { name: 'read' }, resource: { type: 'invoice', id: 'inv-1', properties: { region: 'EU', invoice_type: 'purchase' } } };
    const refused = await postJson(app, '/access/v1/evaluation', body, bearer(apiKey));
    expect(refused.status).toBe(403);
    expect(refused.headers.get('www-authenticate')).toBe(insufficientScope);
    expect(await readJson(refused)).toMatchObject({ type: 'urn:invoice-pdp:problem:forbidden', errors: [{ path: '$.subject' }] });
    const unrouted = await postJson(app, '/access/v1/no-such-endpoint', body, bearer(apiKey));
    expect(unrouted.status).toBe(403);
    expect(unrouted.headers.get('www-authenticate')).toBe(insufficientScope);
    const served = await postJson(app, '/access/v1/evaluation', body, bearer(trustedKey));
    expect(served.status).toBe(200);
    expect(await readJson(served)).toMatchObject({ decision: true });
  });

  it('still answers 400 (not 403) for a malformed body from an untrusted caller', async () => {
    const res = await postJson(app, '/decide', { subject, token: 't', ...question }, bearer(apiKey));
    expect(res.status).toBe(400);
  });

  it('puts a short fingerprint of the key in the context, the same for plain and hashed configuration', async () => {
    const probe = async (key: string) => readJson(await app.request('/decide/probe-caller', { headers: bearer(key) }));
    const api = await probe(apiKey);
    expect(api).toEqual({ id: expect.stringMatching(/^key-[0-9a-f]{12}$/), trusted: false });
    expect(await probe(trustedKey)).toEqual({ id: expect.stringMatching(/^key-[0-9a-f]{12}$/), trusted: true });
    expect(JSON.stringify(api)).not.toContain(apiKey.slice(0, 8));
    const [plainApp, hashedApp] = await Promise.all([
      buildTestApp({ app: { callers: callerKeys({ api: [apiKey], trusted: [], admin: [] }) } }),
      buildTestApp({ app: { callers: callerKeys({ api: [sha256(apiKey)], trusted: [], admin: [] }) } }),
    ]);
    for (const { app: a } of [plainApp, hashedApp]) a.get('/decide/probe-caller', (c) => c.json(c.get('caller')));
    const plain = await readJson(await plainApp.app.request('/decide/probe-caller', { headers: bearer(apiKey) }));
    const hashed = await readJson(await hashedApp.app.request('/decide/probe-caller', { headers: bearer(apiKey) }));
    expect(plain).toEqual(api);
    expect(hashed).toEqual(api);
  });

  it('leaves health endpoints open', async () => {
    expect((await app.request('/healthz')).status).toBe(200);
    expect((await app.request('/readyz')).status).toBe(200);
  });
});

describe('caller authentication: a key among both the API and the trusted keys', () => {
  it('is trusted: it may send pre-verified subject claims', async () => {
    const { app } = await buildTestApp({ app: { callers: callerKeys({ api: [trustedKey], trusted: [trustedKey], admin: [] }) } });
    const res = await postJson(app, '/decide', { subject, action: 'read', resource: { type: 'invoice', properties: { region: 'EU', invoice_type: 'purchase' } } }, bearer(trustedKey));
    expect(res.status).toBe(200);
    expect(await readJson(res)).toMatchObject({ decision: 'permit' });
  });
});

describe('caller authentication: trusted keys alone', () => {
  it('needs a key on every decision endpoint, as API keys alone do', async () => {
    const { app } = await buildTestApp({ app: { callers: callerKeys({ api: [], trusted: [trustedKey], admin: [] }) } });
    for (const { call } of protectedEndpoints) {
      const refused = await call(app, {});
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="invoice-pdp"');
      expect((await call(app, bearer(trustedKey))).status).not.toBe(401);
    }
  });
});

describe('caller authentication: the protected paths', () => {
  it('cover each decision prefix and what lies below it, not a path that only starts with its letters', async () => {
    const { app } = await buildTestApp({ app: { callers: keys } });
    for (const path of ['/decide', '/decide/more', '/access/v1', '/access/v1/more']) {
      expect((await app.request(path, { method: 'POST' })).status, path).toBe(401);
    }
    for (const path of ['/decided', '/access/v10', '/access/v1x/evaluation']) {
      expect((await app.request(path, { method: 'POST' })).status, path).toBe(404);
    }
  });
});

describe('caller authentication: no keys configured', () => {
  it('accepts every caller, with pre-verified subjects, as before keys existed', async () => {
    const { app } = await buildTestApp();
    const res = await postJson(app, '/decide', { subject, ...question });
    expect(res.status).toBe(200);
  });
});

describe('admin endpoints', () => {
  // Probe routes under /admin: the real admin routes are tested in admin.test.ts.
  const paths = ['/admin', '/admin/probe', '/admin/policies/probe'];

  it.each(paths)('do not exist without PDP_ADMIN_KEYS (%s answers 404, whatever the key)', async (path) => {
    const { app } = await buildTestApp({ app: { callers: callerKeys({ api: [apiKey], trusted: [], admin: [] }) } });
    app.post(path, (c) => c.json({ reached: true }));
    for (const headers of [{}, bearer(apiKey)]) {
      const res = await app.request(path, { method: 'POST', headers });
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
    }
  });

  it.each(paths)('need an admin key when configured (%s)', async (path) => {
    const { app } = await buildTestApp({ app: { callers: keys } });
    app.post(path, (c) => c.json({ caller: c.get('caller') }));
    for (const headers of [{}, bearer(apiKey), bearer(trustedKey), bearer('nope-0123456789abcdef')]) {
      const res = await app.request(path, { method: 'POST', headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="invoice-pdp"/);
    }
    const res = await app.request(path, { method: 'POST', headers: bearer(adminKey) });
    expect(res.status).toBe(200);
    expect(await readJson(res)).toEqual({ caller: { id: expect.stringMatching(/^key-[0-9a-f]{12}$/), trusted: false } });
  });

  it('answers with error="invalid_token" whenever a bearer credential was sent but not accepted', async () => {
    const { app } = await buildTestApp({ app: { callers: keys } });
    for (const [headers, challenge] of [
      [{}, 'Bearer realm="invoice-pdp"'],
      [bearer(apiKey), 'Bearer realm="invoice-pdp", error="invalid_token"'],
      [bearer('k'.repeat(600)), 'Bearer realm="invoice-pdp", error="invalid_token"'],
      [{ authorization: `Bearer ${adminKey} ${adminKey}` }, 'Bearer realm="invoice-pdp", error="invalid_token"'],
    ] as const) {
      const res = await app.request('/admin/probe', { method: 'POST', headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe(challenge);
    }
  });
});
