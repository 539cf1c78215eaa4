import { readFile, writeFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callerKeys } from '../src/caller/keys.js';
import { problemTypes } from '../src/http/problem.js';
import { countRejections } from '../src/http/rejections.js';
import { startServer as startService, type RunningServer } from '../src/http/server.js';
import { jsonLimits } from '../src/json-limits.js';
import { RemoteKeySet } from '../src/token/jwks.js';
import { createJwtVerifier } from '../src/token/verify.js';
import { defaultPolicyDir, postJson } from './helpers/app.js';
import { startServer as startStub, type TestServer } from './helpers/http-server.js';
import { connectTo, holdRequest, readResponse } from './helpers/raw-http.js';
import { buildObservedApp, sample, scrape } from './helpers/telemetry.js';
import { tempDir } from './helpers/tmp.js';
import { nestedText } from './oracle/arbitraries.js';

type App = Awaited<ReturnType<typeof buildObservedApp>>['app'];

const reasons = Object.keys(problemTypes);
const rejected = (text: string, reason: string) => sample(text, 'pdp_requests_rejected_total', { reason });

/** How much each reason's count grew between two scrapes. */
function growth(before: string, after: string): Record<string, number> {
  return Object.fromEntries(reasons.map((reason) => [reason, (rejected(after, reason) ?? 0) - (rejected(before, reason) ?? 0)]));
}

const apiKey = 'rejections-api-key-0123456';
const trustedKey = 'rejections-trusted-key-0123';
const adminKey = 'rejections-admin-key-01234';
const as = (key: string) => ({ authorization: `Bearer ${key}` });
const subject = { id: 'alice', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } };
const read = { subject, action: 'read', resource: { type: 'invoice', id: 'inv-1', properties: { region: 'EU' } } };
const evaluation = { subject: { type: 'user', ...subject }, action: { name: 'read' }, resource: read.resource };
const withContext = (context: unknown) => ({ ...read, context });

describe('pdp_requests_rejected_total: every problem the app answers, by reason', () => {
  let app: App;
  let policyDir: string;
  let stalledKeys: TestServer;
  let keySet: RemoteKeySet;
  beforeAll(async () => {
    policyDir = await tempDir({ 'invoices.json': await readFile(join(defaultPolicyDir, 'invoices.json'), 'utf8') });
    // A key server that accepts connections and never answers: a token check waits on it.
    stalledKeys = await startStub(() => undefined);
    keySet = new RemoteKeySet({ url: `${stalledKeys.url}/jwks.json`, timeoutMs: 10_000, refreshMs: 0 });
    const tokens = createJwtVerifier({ keys: keySet.getKey, issuer: 'https://idp.test', audience: ['api'], algorithms: ['ES256'] });
    ({ app } = await buildObservedApp({
      policyDir,
      tokens,
      app: { callers: callerKeys({ api: [apiKey], trusted: [trustedKey], admin: [adminKey] }), maxBodyBytes: 64 * 1024, requestTimeoutMs: 200 },
    }));
  });
  afterAll(async () => {
    keySet.close();
    await stalledKeys.close();
  });

  it('starts every reason at 0, one series per problem type', async () => {
    const text = await scrape(app);
    expect(text).toMatch(/^# TYPE pdp_requests_rejected_total counter$/m);
    for (const reason of reasons) expect(rejected(text, reason), reason).toBe(0);
  });

  const trusted = as(trustedKey);
  const cases: [string, string, number, (app: App) => Response | Promise<Response>][] = [
    ['a body over MAX_BODY_BYTES', 'payload_too_large', 413, (a) => postJson(a, '/decide', withContext({ pad: 'x'.repeat(70 * 1024) }), trusted)],
    ['a body that is not JSON by media type', 'unsupported_media_type', 415, (a) => a.request('/decide', { method: 'POST', headers: { ...trusted, 'content-type': 'text/plain' }, body: '{}' })],
    ['malformed JSON', 'malformed_json', 400, (a) => postJson(a, '/decide', '{"action":', trusted)],
    ['a mistyped field', 'invalid_request', 400, (a) => postJson(a, '/decide', { ...read, action: 7 }, trusted)],
    ['a batch of 101 evaluations', 'invalid_request', 400, (a) => postJson(a, '/access/v1/evaluations', { ...evaluation, evaluations: Array.from({ length: 101 }, () => ({})) }, trusted)],
    [`nesting over ${jsonLimits.maxDepth} levels`, 'limit_exceeded', 400, (a) => postJson(a, '/decide', JSON.stringify(withContext('@')).replace('"@"', nestedText(jsonLimits.maxDepth, 'array')), trusted)],
    [`an array over ${jsonLimits.maxCollection} elements`, 'limit_exceeded', 400, (a) => postJson(a, '/decide', withContext({ list: Array.from({ length: jsonLimits.maxCollection + 1 }, () => 0) }), trusted)],
    [`a string over ${jsonLimits.maxString} characters`, 'limit_exceeded', 400, (a) => postJson(a, '/decide', withContext({ note: 'x'.repeat(jsonLimits.maxString + 1) }), trusted)],
    ['no caller key', 'unauthenticated', 401, (a) => postJson(a, '/decide', read)],
    ['an unknown caller key', 'unauthenticated', 401, (a) => postJson(a, '/decide', read, as('not-a-key-0123456789'))],
    ['no admin key', 'unauthenticated', 401, (a) => a.request('/admin/policies')],
    ['an API key stating a subject', 'forbidden', 403, (a) => postJson(a, '/decide', read, as(apiKey))],
    ['an unknown path', 'not_found', 404, (a) => a.request('/nowhere')],
    ['a policy set that does not compile', 'policy_invalid', 422, async (a) => {
      await writeFile(join(policyDir, 'broken.json'), '{ "id": "broken", ');
      return a.request('/admin/policies/reload', { method: 'POST', headers: as(adminKey) });
    }],
    ['a dependency slower than REQUEST_TIMEOUT_MS', 'timeout', 503, (a) => postJson(a, '/decide', { ...read, subject: undefined, token: 'eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSJ9.c2ln' }, trusted)],
  ];

  it.each(cases)('%s: counted once under %s', async (_, reason, status, send) => {
    const before = await scrape(app);
    const res = await send(app);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(growth(before, await scrape(app))).toEqual({ ...Object.fromEntries(reasons.map((r) => [r, 0])), [reason]: 1 });
  });

  it('counts nothing for accepted requests, denies included', async () => {
    const before = await scrape(app);
    expect((await postJson(app, '/decide', read, trusted)).status).toBe(200);
    expect((await postJson(app, '/access/v1/evaluation', { ...evaluation, action: { name: 'delete' } }, trusted)).status).toBe(200);
    expect((await app.request('/healthz')).status).toBe(200);
    expect(Object.values(growth(before, await scrape(app))).every((n) => n === 0)).toBe(true);
  });
});

describe('pdp_requests_rejected_total: what the HTTP server answers itself (a real listening socket)', () => {
  let running: RunningServer;
  beforeAll(async () => {
    const { app, metrics } = await buildObservedApp();
    running = await startService(app.fetch, {
      port: 0,
      hostname: '127.0.0.1',
      maxHeaderBytes: 4096,
      headersTimeoutMs: 300,
      requestTimeoutMs: 300,
      onProblem: countRejections(metrics),
    });
  });
  afterAll(async () => {
    await running.shutdown(1_000);
  });

  const metricsText = async () => (await fetch(`http://127.0.0.1:${running.port}/metrics`)).text();

  it('counts 431 headers_too_large, 408 client_timeout and a request that is not HTTP', async () => {
    const before = await metricsText();
    const tooLarge = await fetch(`http://127.0.0.1:${running.port}/healthz`, { headers: { 'x-padding': 'p'.repeat(5_000) } });
    expect(tooLarge.status).toBe(431);

    const slow = await connectTo(running.port);
    const timedOut = readResponse(slow);
    slow.write('POST /decide HTTP/1.1\r\nhost: 127.0.0.1\r\n');
    expect((await timedOut).status).toBe(408);
    slow.destroy();

    const garbage = await connectTo(running.port);
    const refused = readResponse(garbage);
    garbage.write('HELLO THERE\r\n\r\n');
    expect((await refused).status).toBe(400);
    garbage.destroy();

    const counted = growth(before, await metricsText());
    expect(counted).toMatchObject({ headers_too_large: 1, client_timeout: 1, invalid_request: 1 });
    expect(Object.values(counted).reduce((a, b) => a + b, 0)).toBe(3);
  });
});

describe('pdp_requests_rejected_total: a request answered before its body came is counted once', () => {
  let running: RunningServer;
  beforeAll(async () => {
    const { app, metrics } = await buildObservedApp({ app: { requestTimeoutMs: 200, maxBodyBytes: 1024 } });
    running = await startService(app.fetch, { port: 0, hostname: '127.0.0.1', onProblem: countRejections(metrics) });
  });
  afterAll(async () => {
    await running.shutdown(1_000);
  });

  const metricsText = async () => (await fetch(`http://127.0.0.1:${running.port}/metrics`)).text();
  const onlyTheTimeout = { ...Object.fromEntries(reasons.map((r) => [r, 0])), client_timeout: 1 };
  // What the route meets once the rest of the body has come (or the client has gone) is met within a few turns.
  const settled = () => new Promise((resolve) => setTimeout(resolve, 300));

  const ends: [string, (socket: Socket) => void][] = [
    ['the rest of its body comes, not JSON', (socket) => socket.write('x'.repeat(5))],
    ['the client goes away', (socket) => socket.destroy()],
  ];

  it.each(ends)('408 client_timeout, then %s: only the 408 is counted', async (_, end) => {
    const before = await metricsText();
    const held = await holdRequest(running.port, '/decide', `${JSON.stringify(read)}     `, 5);
    expect((await held.response).status).toBe(408);
    end(held.socket);
    await settled();
    held.socket.destroy();
    expect(growth(before, await metricsText())).toEqual(onlyTheTimeout);
  });

  it('408 client_timeout, then the rest of a chunked body comes, over MAX_BODY_BYTES: only the 408 is counted', async () => {
    const before = await metricsText();
    const socket = await connectTo(running.port);
    const answer = readResponse(socket);
    socket.write('POST /decide HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{"a":\r\n');
    expect((await answer).status).toBe(408);
    const rest = 'x'.repeat(4096);
    socket.write(`${rest.length.toString(16)}\r\n${rest}\r\n0\r\n\r\n`);
    await settled();
    socket.destroy();
    expect(growth(before, await metricsText())).toEqual(onlyTheTimeout);
  });
});
