import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { callerKeys } from '../src/caller/keys.js';
import { MetricsUnavailableError } from '../src/telemetry/cluster-metrics.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, postJson } from './helpers/app.js';
import { loadContract, openapiPath, openapiPathOf, type Contract } from './helpers/openapi.js';
import { tempDir } from './helpers/tmp.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

const accountant = { id: 'acc-1', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } };
const manager = { id: 'fm-1', properties: { roles: ['finance_manager'], scope: 'invoice.write', region: 'EU', approval_limit: 10000 } };
const invoice = { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'EU', status: 'submitted', amount: 10, owner: 'x' } };
const json = { 'content-type': 'application/json' };
const adminKey = 'admin-key-0123456789abcdef';
const adminAuth = { authorization: `Bearer ${adminKey}` };

/**
 * Real requests whose answers must match openapi.yaml: [what, status, METHOD, documented path, send].
 * A new endpoint adds one line per answer it can give.
 */
const documented: [string, number, string, string, (app: App) => Response | Promise<Response>][] = [
  ['permit', 200, 'POST', '/decide', (app) => postJson(app, '/decide', { subject: accountant, action: 'read', resource: invoice })],
  ['deny with no applicable rule', 200, 'POST', '/decide', (app) => postJson(app, '/decide', { subject: accountant, action: 'delete', resource: invoice })],
  ['deny with advice', 200, 'POST', '/decide', (app) => postJson(app, '/decide', { subject: manager, action: 'approve', resource: invoice })],
  ['deny with a condition error', 200, 'POST', '/decide', (app) => postJson(app, '/decide', { subject: manager, action: 'approve', resource: { type: 'invoice' } })],
  ['deny for an unknown resource type', 200, 'POST', '/decide', (app) => postJson(app, '/decide', { subject: accountant, action: 'read', resource: { type: 'payment' } })],
  ['invalid_token deny', 200, 'POST', '/decide', (app) => postJson(app, '/decide', { token: 'not-a-jwt', action: 'read', resource: invoice })],
  ['explain', 200, 'POST', '/decide', (app) => postJson(app, '/decide?explain=true', { subject: manager, action: 'approve', resource: invoice, context: { mfa: 'yes' } })],
  ['400 malformed JSON', 400, 'POST', '/decide', (app) => postJson(app, '/decide', '{')],
  ['400 invalid field', 400, 'POST', '/decide', (app) => postJson(app, '/decide', { subject: accountant, action: 7, resource: invoice })],
  ['413 too large', 413, 'POST', '/decide', (app) => postJson(app, '/decide', `"${'x'.repeat(1024 * 1024)}"`)],
  ['415 text/plain', 415, 'POST', '/decide', (app) => app.request('/decide', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' })],
  ['AuthZEN permit', 200, 'POST', '/access/v1/evaluation', (app) => postJson(app, '/access/v1/evaluation', { subject: { type: 'user', ...accountant }, action: { name: 'read' }, resource: { ...invoice, id: 'inv-1' } })],
  ['AuthZEN 400', 400, 'POST', '/access/v1/evaluation', (app) => postJson(app, '/access/v1/evaluation', { action: { name: 'read' } })],
  ['AuthZEN batch with reasons', 200, 'POST', '/access/v1/evaluations', (app) => postJson(app, '/access/v1/evaluations', { subject: { type: 'user', ...accountant }, resource: { ...invoice, id: 'inv-1' }, options: { include_reasons: true }, evaluations: [{ action: { name: 'read' } }, { action: { name: 'delete' } }] })],
  ['AuthZEN subject search', 200, 'POST', '/access/v1/search/subject', (app) => postJson(app, '/access/v1/search/subject', { subject: { type: 'user' }, action: { name: 'read' }, resource: { ...invoice, id: 'inv-1' } })],
  ['AuthZEN resource search', 200, 'POST', '/access/v1/search/resource', (app) => postJson(app, '/access/v1/search/resource', { subject: { type: 'user', ...accountant }, action: { name: 'read' }, resource: { type: 'invoice' } })],
  ['AuthZEN action search', 200, 'POST', '/access/v1/search/action', (app) => postJson(app, '/access/v1/search/action', { subject: { type: 'user', ...accountant }, resource: { ...invoice, id: 'inv-1' } })],
  ['AuthZEN discovery', 200, 'GET', '/.well-known/authzen-configuration', (app) => app.request('/.well-known/authzen-configuration')],
  ['AuthZEN discovery where a PUBLIC_URL path moves it', 404, 'GET', '/.well-known/authzen-configuration', async () => (await buildTestApp({ app: { publicUrl: 'https://pdp.example.com/authz' } })).app.request('/.well-known/authzen-configuration')],
  ['admin policy listing', 200, 'GET', '/admin/policies', (app) => app.request('/admin/policies', { headers: adminAuth })],
  ['admin reload', 200, 'POST', '/admin/policies/reload', (app) => app.request('/admin/policies/reload', { method: 'POST', headers: adminAuth })],
  ['admin without a key', 401, 'GET', '/admin/policies', (app) => app.request('/admin/policies')],
  ['metrics', 200, 'GET', '/metrics', (app) => app.request('/metrics')],
  ['alive', 200, 'GET', '/healthz', (app) => app.request('/healthz')],
  ['ready', 200, 'GET', '/readyz', (app) => app.request('/readyz')],
  ['stopping', 503, 'GET', '/readyz', async () => (await buildTestApp({ app: { stopping: () => true } })).app.request('/readyz')],
];

/** Requests the service does not route: answered with the documented NotFound or MethodNotAllowed problem. */
const unrouted: [string, number, (app: App) => Response | Promise<Response>][] = [
  ['unknown path', 404, (app) => app.request('/nope')],
  ['GET on a POST route', 405, (app) => app.request('/decide')],
  ['POST on a GET route', 405, (app) => app.request('/healthz', { method: 'POST', headers: json, body: '{}' })],
];

const subjectMode = { subject: accountant, action: 'read', resource: invoice };
const tokenMode = { token: 'not-a-jwt', action: 'read', resource: invoice };
const authzenQuery = { subject: { type: 'user', ...accountant }, action: { name: 'read' }, resource: invoice };

/**
 * Request bodies at the edge of what each operation takes: [what, documented path, body, whether
 * the service decides it (200) rather than refusing it (400)]. The documented request schema must
 * accept exactly the bodies the service decides.
 */
const requests: [string, string, unknown, boolean][] = [
  ['a subject', '/decide', subjectMode, true],
  ['a token', '/decide', tokenMode, true],
  ['both a token and a subject', '/decide', { ...subjectMode, token: 'not-a-jwt' }, false],
  ['neither a token nor a subject', '/decide', { action: 'read', resource: invoice }, false],
  // A longer token is a deny (invalid_token); one beyond the JSON string limit is never read as a token.
  ['a token at the JSON string limit', '/decide', { ...tokenMode, token: 'x'.repeat(16_384) }, true],
  ['a token beyond the JSON string limit', '/decide', { ...tokenMode, token: 'x'.repeat(16_385) }, false],
  ['a single evaluation', '/access/v1/evaluation', authzenQuery, true],
  ['a batch', '/access/v1/evaluations', { ...authzenQuery, evaluations: [{ action: { name: 'delete' } }] }, true],
  ['a batch whose items carry every field', '/access/v1/evaluations', { evaluations: [authzenQuery] }, true],
  ['no items, as a single evaluation', '/access/v1/evaluations', authzenQuery, true],
  ['an empty batch, as a single evaluation', '/access/v1/evaluations', { ...authzenQuery, evaluations: [] }, true],
  ['no items and no action', '/access/v1/evaluations', { subject: authzenQuery.subject, resource: invoice }, false],
  ['an empty batch and no subject', '/access/v1/evaluations', { action: { name: 'read' }, resource: invoice, evaluations: [] }, false],
  ['items that cannot be evaluated, each answered false', '/access/v1/evaluations', { ...authzenQuery, evaluations: [null, 7, { action: null }, { resource: { type: '' } }] }, true],
  ['101 items', '/access/v1/evaluations', { ...authzenQuery, evaluations: Array.from({ length: 101 }, () => ({})) }, false],
];

describe('openapi.yaml matches what the service answers', () => {
  let app: App;
  let contract: Contract;
  beforeAll(async () => {
    ({ app } = await buildTestApp({ app: { callers: callerKeys({ api: [], trusted: [], admin: [adminKey] }) } }));
    contract = await loadContract();
  });

  it.each(documented)('%s (%i): %s %s', async (_, status, method, path, send) => {
    const res = await send(app);
    expect(res.status).toBe(status);
    expect(await contract.check(method, path, res)).toEqual([]);
  });

  it.each(unrouted)('%s: %i, its documented problem', async (_, status, send) => {
    const res = await send(app);
    expect(res.status).toBe(status);
    expect(await contract.checkUnrouted(res)).toEqual([]);
  });

  it.each(requests)('the request schema and the service agree on %s (%s)', async (_, path, body, decided) => {
    const res = await postJson(app, path, body);
    expect(res.status).toBe(decided ? 200 : 400);
    expect(contract.checkRequest('POST', path, body).length === 0).toBe(decided);
  });

  it('is a sound OpenAPI 3.1 document: every $ref resolves, every schema compiles with the keywords of JSON Schema and OpenAPI alone', async () => {
    expect(contract.documentIssues()).toEqual([]);
    // A description after a comma in a flow mapping leaves a stray key; a $ref may name nothing.
    const text = (await readFile(openapiPath, 'utf8'))
      .replace('description: The CEL source.', 'description: The CEL source, as written.')
      .replace("$ref: '#/components/schemas/Advice'", "$ref: '#/components/schemas/Advise'");
    const broken = await loadContract(join(await tempDir({ 'openapi.yaml': text }), 'openapi.yaml'));
    expect(broken.documentIssues()).toEqual(expect.arrayContaining([
      expect.stringContaining('unknown keyword: "as written."'),
      expect.stringContaining('$ref #/components/schemas/Advise resolves to nothing'),
    ]));
  });

  it('holds the objects OpenAPI 3.1 defines to what it requires of them, beyond their schemas', async () => {
    // Each edit breaks a rule of the specification that no schema compile sees.
    const text = (await readFile(openapiPath, 'utf8'))
      .replace("      operationId: healthz\n", '      operationId: readyz\n')
      .replace("      security: [{ adminKey: [] }]\n", '      security: [{ adminKeys: [] }]\n')
      .replace("          description: Alive.\n", '')
      .replace("    RequestId:\n      name: X-Request-ID\n      in: header\n", '    RequestId:\n      name: X-Request-ID\n')
      .replace("  headers:\n    RequestId:\n", '  headers:\n    RequestId:\n      name: X-Request-ID\n')
      .replace("          schema: { type: string, enum: ['true', 'false'] }\n", '');
    const broken = await loadContract(join(await tempDir({ 'openapi.yaml': text }), 'openapi.yaml'));
    expect(broken.documentIssues().sort()).toEqual([
      '/components/headers/RequestId: a header object has no name (its key names it)',
      '/components/parameters/RequestId: a parameter needs its name, its place (in) and a schema or content',
      '/paths/~1admin~1policies/get/security: no security scheme named adminKeys',
      '/paths/~1decide/post/parameters/2: a parameter needs its name, its place (in) and a schema or content',
      '/paths/~1healthz/get/responses/200: a response needs a description',
      '/paths/~1readyz/get: operationId readyz is given to another operation too',
    ]);
  });

  it('documents every route the app serves, and serves every documented route', () => {
    const served = app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${openapiPathOf(r.path)}`);
    expect([...new Set(served)].sort()).toEqual([...contract.operations].sort());
  });

  it('exercises every documented operation above', () => {
    const exercised = new Set(documented.map(([, , method, path]) => `${method} ${path}`));
    expect(contract.operations.filter((op) => !exercised.has(op))).toEqual([]);
  });

  it('documents an unexpected fault\'s 500 on every operation, as the app answers it on any route', async () => {
    // A metrics source failing in a way the route does not expect: the app's error handler answers.
    const failing = { contentType: 'text/plain', metrics: () => Promise.reject(new Error('registry broken')) };
    const { app: faulty } = await buildTestApp({ app: { metricsSource: failing } });
    const res = await faulty.request('/metrics');
    expect(res.status).toBe(500);
    expect(await contract.check('GET', '/metrics', res)).toEqual([]);
    const doc = parse(await readFile(openapiPath, 'utf8')) as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
    const internal = contract.operations.map((operation) => {
      const [method = '', path = ''] = operation.split(' ');
      return { operation, response: doc.paths[path]?.[method.toLowerCase()]?.responses['500'] };
    });
    expect(internal).toEqual(contract.operations.map((operation) => ({ operation, response: { $ref: '#/components/responses/InternalError' } })));
  });

  it('answers every GET with how long a cache may keep it: a probe, the metrics or the admin listing never, the discovery metadata five minutes', async () => {
    const gets = documented.filter(([, status, method]) => method === 'GET' && (status === 200 || status === 503));
    const answers = await Promise.all(gets.map(async ([what, , , path, send]) => [what, path, (await send(app)).headers.get('cache-control')]));
    expect(answers).toEqual(gets.map(([what, , , path]) => [what, path, path === '/.well-known/authzen-configuration' ? 'max-age=300' : 'no-store']));
    expect(answers.map(([, path]) => path)).toEqual(expect.arrayContaining(['/healthz', '/readyz', '/metrics', '/admin/policies', '/.well-known/authzen-configuration']));
    // HEAD is answered as GET is.
    expect((await app.request('/readyz', { method: 'HEAD' })).headers.get('cache-control')).toBe('no-store');
    // The decision endpoints' answers are not touched: no header is set for them.
    expect((await postJson(app, '/decide', subjectMode)).headers.get('cache-control')).toBeNull();
  });

  it('answers every problem with no-store: it tells of one request\'s failure, which a cache in front must not hand to the next', async () => {
    const { app: guarded } = await buildTestApp({ app: { metricsToken: 'metrics-token-0123456789' } });
    const unavailable = { contentType: 'text/plain', metrics: () => Promise.reject(new MetricsUnavailableError('a worker did not answer')) };
    const { app: scrapeFailing } = await buildTestApp({ app: { metricsSource: unavailable } });
    const { app: noAdmin } = await buildTestApp();
    const problems: [string, number, string, Response][] = [
      ['metrics without its token', 401, '/metrics', await guarded.request('/metrics')],
      ['metrics with a wrong token', 401, '/metrics', await guarded.request('/metrics', { headers: { authorization: 'Bearer wrong' } })],
      ['metrics a worker did not answer', 503, '/metrics', await scrapeFailing.request('/metrics')],
      ['admin without a key', 401, '/admin/policies', await app.request('/admin/policies')],
      ['admin without admin keys', 404, '/admin/policies', await noAdmin.request('/admin/policies')],
      ['discovery where a PUBLIC_URL path moves it', 404, '/.well-known/authzen-configuration', await (await buildTestApp({ app: { publicUrl: 'https://pdp.example.com/authz' } })).app.request('/.well-known/authzen-configuration')],
      ['a bad decision request', 400, '/decide', await postJson(app, '/decide', '{')],
    ];
    expect(problems.map(([what, , , res]) => [what, res.status, res.headers.get('content-type'), res.headers.get('cache-control')]))
      .toEqual(problems.map(([what, status]) => [what, status, 'application/problem+json', 'no-store']));
    for (const [, , path, res] of problems) expect(await contract.check(path === '/decide' ? 'POST' : 'GET', path, res)).toEqual([]);
    for (const [, , send] of unrouted) expect((await send(app)).headers.get('cache-control')).toBe('no-store');
  });

  it('catches drift: an undocumented field, status or content type is reported', async () => {
    const decision = { decision: 'deny', reasons: [], advice: [], decisionId: 'd', policyVersion: 'v' };
    const conforming = new Response(JSON.stringify(decision), { headers: { 'content-type': 'application/json' } });
    expect(await contract.check('POST', '/decide', conforming)).toEqual([]);
    const extraField = new Response(JSON.stringify({ ...decision, surprise: true }), { headers: { 'content-type': 'application/json' } });
    expect(await contract.check('POST', '/decide', extraField)).toEqual([expect.stringContaining('additionalProperty')]);
    const wrongStatus = new Response('{}', { status: 418, headers: { 'content-type': 'application/json' } });
    expect(await contract.check('POST', '/decide', wrongStatus)).toEqual([expect.stringContaining('status not documented')]);
    const wrongType = new Response('ok', { headers: { 'content-type': 'text/plain' } });
    expect(await contract.check('GET', '/healthz', wrongType)).toEqual([expect.stringContaining('content type "text/plain" not documented')]);
    const badDecision = new Response(JSON.stringify({ ...decision, decision: 'maybe' }), { headers: { 'content-type': 'application/json' } });
    expect(await contract.check('POST', '/decide', badDecision)).toEqual([expect.stringContaining('/decision')]);
    const badDate = new Response(JSON.stringify({ status: 'ready', policies: { version: 'v', rules: 1, loadedAt: 'yesterday' }, redis: 'disabled', keySets: [] }), { headers: { 'content-type': 'application/json' } });
    expect(await contract.check('GET', '/readyz', badDate)).toEqual([expect.stringContaining('format')]);
    const problem = JSON.stringify({ type: 'urn:invoice-pdp:problem:timeout', title: 'Timed out', status: 503, detail: 'd', requestId: 'r' });
    const problemHeaders = { 'content-type': 'application/problem+json' };
    const badRetry = new Response(problem, { status: 503, headers: { ...problemHeaders, 'retry-after': 'soon' } });
    expect(await contract.check('POST', '/decide', badRetry)).toEqual([expect.stringContaining('header Retry-After "soon"')]);
    const undocumentedHeader = new Response(problem, { status: 413, headers: { ...problemHeaders, 'retry-after': '1' } });
    expect(await contract.check('POST', '/decide', undocumentedHeader)).toEqual([expect.stringContaining('header retry-after not documented')]);
  });
});
