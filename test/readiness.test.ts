import { describe, expect, it } from 'vitest';
import { buildTestApp, postJson, readJson } from './helpers/app.js';

describe('GET /readyz', () => {
  it('answers 200 with the policy version in force and when it was loaded', async () => {
    const before = Date.now();
    const { app } = await buildTestApp();
    const res = await app.request('/readyz');
    expect(res.status).toBe(200);
    const body = await readJson(res);
    const decided = await readJson(await postJson(app, '/decide', { subject: { id: 'u' }, action: 'read', resource: { type: 'invoice' } }));
    const policies = body.policies as { version: string; rules: number; loadedAt: string };
    expect(body.status).toBe('ready');
    // Neither Redis nor a remote key set is configured here.
    expect(body.redis).toBe('disabled');
    expect(body.keySets).toEqual([]);
    expect(policies.version).toBe(decided.policyVersion);
    expect(policies.rules).toBe(9);
    expect(Date.parse(policies.loadedAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(policies.loadedAt)).toBeLessThanOrEqual(Date.now());
  });

  it('answers 503 stopping, with what it depends on, once the service is stopping; /healthz stays 200', async () => {
    let stopping = false;
    const { app } = await buildTestApp({ app: { stopping: () => stopping } });
    const ready = await readJson(await app.request('/readyz'));
    stopping = true;
    const res = await app.request('/readyz');
    expect(res.status).toBe(503);
    // Not a condition that passes (a timeout's 503 carries Retry-After: 1): the process is going away.
    expect(res.headers.get('retry-after')).toBeNull();
    expect(await readJson(res)).toEqual({ ...ready, status: 'stopping' });
    expect((await app.request('/healthz')).status).toBe(200);
  });
});
