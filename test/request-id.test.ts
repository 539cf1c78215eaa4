import { beforeAll, describe, expect, it } from 'vitest';
import { postJson, readJson } from './helpers/app.js';
import { buildObservedApp } from './helpers/telemetry.js';

type App = Awaited<ReturnType<typeof buildObservedApp>>['app'];

describe('X-Request-ID', () => {
  let app: App;
  beforeAll(async () => {
    ({ app } = await buildObservedApp({ metricsToken: 'metrics-token-0123456789', app: { maxBodyBytes: 1024 } }));
  });

  const problems: [string, number, (app: App, headers: Record<string, string>) => Response | Promise<Response>][] = [
    ['malformed JSON', 400, (a, h) => postJson(a, '/decide', '{', h)],
    ['invalid field', 400, (a, h) => postJson(a, '/decide', { action: 'read' }, h)],
    ['metrics', 401, (a, h) => a.request('/metrics', { headers: h })],
    ['unknown route', 404, (a, h) => a.request('/nowhere', { headers: h })],
    ['body too large', 413, (a, h) => postJson(a, '/decide', { pad: 'x'.repeat(2048) }, h)],
    ['not JSON', 415, (a, h) => a.request('/decide', { method: 'POST', headers: { ...h, 'content-type': 'text/plain' }, body: 'x' })],
  ];

  it.each(problems)('is echoed and carried in the problem body (%s: %i)', async (_name, status, send) => {
    const res = await send(app, { 'x-request-id': 'gw-7f3a:01' });
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('x-request-id')).toBe('gw-7f3a:01');
    expect((await readJson(res)).requestId).toBe('gw-7f3a:01');
  });

  it.each(problems)('is made up when absent, and still in the problem body (%s: %i)', async (_name, status, send) => {
    const res = await send(app, {});
    expect(res.status).toBe(status);
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await readJson(res)).requestId).toBe(id);
  });

  it('is echoed verbatim whatever its characters, up to 1024 of them (AuthZEN Request Identification)', async () => {
    for (const given of ['a b', 'req 42 / spaces, punctuation & "quotes"; ok?', 'x'.repeat(129), 'y'.repeat(1024), '<script>', 'a\tb', '{"json":true}\\']) {
      for (const res of [await postJson(app, '/decide', '{', { 'x-request-id': given }), await postJson(app, '/access/v1/evaluation', {}, { 'x-request-id': given })]) {
        expect(res.headers.get('x-request-id')).toBe(given);
        expect((await readJson(res)).requestId).toBe(given);
      }
    }
  });

  it('replaces an empty, overlong, control-character or non-ASCII id with a fresh one', async () => {
    // Node's HTTP parser refuses controls itself; app.request reaches the service without it.
    for (const given of ['', 'x'.repeat(1025), 'a\u0001b', 'a\u007fb', 'a\u001b[31mred', 'id\u00e9', 'a\u009bb']) {
      const res = await postJson(app, '/decide', '{', { 'x-request-id': given });
      const id = res.headers.get('x-request-id');
      expect(id).not.toBe(given);
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      expect((await readJson(res)).requestId).toBe(id);
    }
  });
});

describe('an unexpected failure', () => {
  it('answers 500 with the request id, and logs it with the same id', async () => {
    const logged: [unknown, string | undefined][] = [];
    const { app, metrics } = await buildObservedApp({
      tokens: { verify: () => Promise.reject(new TypeError('verifier bug')) },
      app: { onUnexpectedError: (error, requestId) => void logged.push([error, requestId]) },
    });
    const res = await postJson(app, '/decide', { token: 'a.b.c', action: 'read', resource: { type: 'invoice' } }, { 'x-request-id': 'boom-1' });
    expect(res.status).toBe(500);
    const body = await readJson(res);
    expect(body).toMatchObject({ status: 500, requestId: 'boom-1' });
    expect(JSON.stringify(body)).not.toContain('verifier bug');
    expect(logged).toEqual([[expect.any(TypeError), 'boom-1']]);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^http_requests_total\{method="POST",route="\/decide",status="500"\} 1$/m);
  });
});
