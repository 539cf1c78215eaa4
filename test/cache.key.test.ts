import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CacheSetup } from '../src/cache/from-config.js';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { cacheFromEnv } from './helpers/cache.js';
import { docPolicy, tempDir, writeFiles } from './helpers/policy-dir.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

describe('decision cache key', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let setup: CacheSetup;
  let app: App;

  beforeAll(async () => {
    dir = await tempDir();
    // 1.0 / x is +Infinity for 0 and -Infinity for -0: CEL tells them apart, so the key must.
    await writeFiles(dir.path, { 'doc.json': docPolicy('t', 'P-pos', { condition: '1.0 / context.x > 0.0' }) });
    setup = await cacheFromEnv({ CACHE_MEMORY_ENTRIES: '100' });
    app = (await buildTestApp({ policyDir: dir.path, cache: setup.cache })).app;
  });
  afterAll(async () => {
    await setup.close();
    await dir.remove();
  });

  /** The body is written by hand: JSON.stringify would write -0 as 0. */
  async function decide(x: string): Promise<Record<string, unknown>> {
    const body = `{"subject":{"id":"u","properties":{}},"action":"read","resource":{"type":"doc","id":"d"},"context":{"x":${x}}}`;
    const res = await postJson(app, '/decide', body);
    expect(res.status).toBe(200);
    return readJson(res);
  }

  it('never serves the decision cached for 0 to a request with -0, nor the reverse', async () => {
    expect(await decide('0.0')).toMatchObject({ decision: 'permit' });
    expect(await decide('0.0')).toMatchObject({ decision: 'permit', cached: 'memory' });
    const negative = await decide('-0.0');
    expect(negative).toMatchObject({ decision: 'deny' });
    expect(negative).not.toHaveProperty('cached');
    expect(await decide('-0')).toMatchObject({ decision: 'deny', cached: 'memory' });
    expect(await decide('0')).toMatchObject({ decision: 'permit', cached: 'memory' });
  });
});

/**
 * One rule, permit `rule` on type `t` under `condition`, served by an app with a memory cache
 * and by one without, set up for the enclosing describe.
 */
function withAndWithoutCache(rule: string, condition: string): { readonly cached: App; readonly uncached: App } {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let setup: CacheSetup;
  const apps = {} as { cached: App; uncached: App };
  beforeAll(async () => {
    dir = await tempDir();
    await writeFiles(dir.path, { 'doc.json': docPolicy('t', rule, { condition }) });
    setup = await cacheFromEnv({ CACHE_MEMORY_ENTRIES: '100' });
    apps.cached = (await buildTestApp({ policyDir: dir.path, cache: setup.cache })).app;
    apps.uncached = (await buildTestApp({ policyDir: dir.path })).app;
  });
  afterAll(async () => {
    await setup.close();
    await dir.remove();
  });
  return apps;
}

describe('maps listed by a condition', () => {
  // The first approver, as `map` lists the keys: the cache key sorts them, so must evaluation.
  const apps = withAndWithoutCache('P-first', 'resource.properties.approvals.map(k, k)[0] == subject.id');

  async function decide(app: App, approvals: string, explain = false): Promise<Record<string, unknown>> {
    const body = `{"subject":{"id":"alice","properties":{}},"action":"read","resource":{"type":"doc","id":"d","properties":{"approvals":${approvals}}}}`;
    const res = await postJson(app, explain ? '/decide?explain=true' : '/decide', body);
    expect(res.status).toBe(200);
    return readJson(res);
  }

  it('lists a map in sorted key order, whatever order the request sent', async () => {
    expect(await decide(apps.uncached, '{"alice":1,"bob":2}')).toMatchObject({ decision: 'permit' });
    expect(await decide(apps.uncached, '{"bob":2,"alice":1}')).toMatchObject({ decision: 'permit' });
    expect(await decide(apps.uncached, '{"bob":2,"carol":1}')).toMatchObject({ decision: 'deny' });
    // `__proto__` stays a key, sorted first ('_' before 'a'), never a prototype.
    expect(await decide(apps.uncached, '{"alice":1,"__proto__":{"x":1}}')).toMatchObject({ decision: 'deny' });
    expect(await decide(apps.uncached, '{"alice":1,"__proto__":null}')).toMatchObject({ decision: 'deny' });
  });

  it('serves from the cache only the answer evaluation gives the request now', async () => {
    const first = await decide(apps.cached, '{"bob":2,"alice":1}');
    expect(first).toMatchObject({ decision: 'permit' });
    expect(first).not.toHaveProperty('cached');
    expect(await decide(apps.cached, '{"alice":1,"bob":2}')).toMatchObject({ decision: 'permit', cached: 'memory' });
    expect(await decide(apps.cached, '{"alice":1,"bob":2}', true)).toMatchObject({ decision: 'permit' });
  });
});

describe('maps a comprehension stops in', () => {
  // 101,000 values: comparing it with another as large spends more than a decision may compare.
  const big = JSON.stringify(Array.from({ length: 1000 }, () => Array.from({ length: 100 }, () => 0)));
  // `exists` stops at the first key that holds; the one that spends every comparison first
  // leaves none for the key that would have held.
  const apps = withAndWithoutCache('P-any', 'context.m.exists(k, context.m[k] == context.big || context.m[k] == context.small)');

  async function decide(app: App, m: string): Promise<Record<string, unknown>> {
    const body = `{"subject":{"id":"u","properties":{}},"action":"read","resource":{"type":"doc","id":"d"},"context":{"big":${big},"small":[1],"m":${m}}}`;
    const res = await postJson(app, '/decide', body);
    expect(res.status).toBe(200);
    return readJson(res);
  }

  const smallFirst = `{"b":[1],"a":${big}}`;
  const bigFirst = `{"a":${big},"b":[1]}`;

  it('visits a map in sorted key order, whatever order the request sent', async () => {
    const answers = [await decide(apps.uncached, smallFirst), await decide(apps.uncached, bigFirst)];
    for (const answer of answers) {
      expect(answer).toMatchObject({ decision: 'deny', reasons: [{ code: 'no_applicable_rule' }, { code: 'condition_error', rule: 'P-any' }] });
    }
  });

  it('never serves one key order the answer evaluated for another', async () => {
    const first = await decide(apps.cached, smallFirst);
    expect(first).toMatchObject({ decision: 'deny' });
    const second = await decide(apps.cached, bigFirst);
    expect(second).toMatchObject({ decision: 'deny' });
    expect(second).not.toHaveProperty('cached');
  });
});

describe('subjects that differ only in type, or in a property', () => {
  // The shipped policies compare owners with subject.id only for subjects of type "user".
  const apps = withAndWithoutCache('P-eu-user', 'subject.type == "user" && subject.properties.region == "EU"');

  async function decide(type: string, region: string): Promise<Record<string, unknown>> {
    const body = { subject: { type, id: 'same-id', properties: { region } }, action: 'read', resource: { type: 'doc', id: 'd' } };
    const res = await postJson(apps.cached, '/decide', body);
    expect(res.status).toBe(200);
    return readJson(res);
  }

  it('never serves the decision cached for one to the other', async () => {
    expect(await decide('user', 'EU')).toMatchObject({ decision: 'permit' });
    expect(await decide('user', 'EU')).toMatchObject({ decision: 'permit', cached: 'memory' });
    const service = await decide('service', 'EU');
    expect(service).toMatchObject({ decision: 'deny' });
    expect(service).not.toHaveProperty('cached');
    const elsewhere = await decide('user', 'US');
    expect(elsewhere).toMatchObject({ decision: 'deny' });
    expect(elsewhere).not.toHaveProperty('cached');
    expect(await decide('service', 'EU')).toMatchObject({ decision: 'deny', cached: 'memory' });
  });
});

describe('actions that differ only in their properties', () => {
  // AuthZEN actions carry properties conditions read; a key of the action's name alone would
  // serve the permit for a GET to a DELETE.
  const apps = withAndWithoutCache('P-get', 'action.properties.method == "GET"');

  async function evaluate(method: string): Promise<Record<string, unknown>> {
    const body = { subject: { type: 'user', id: 'u' }, action: { name: 'read', properties: { method } }, resource: { type: 'doc', id: 'd' } };
    const res = await postJson(apps.cached, '/access/v1/evaluation', body);
    expect(res.status).toBe(200);
    return readJson(res);
  }

  it('never serves the decision cached for one to the other', async () => {
    expect(await evaluate('GET')).toMatchObject({ decision: true });
    expect(await evaluate('GET')).toMatchObject({ decision: true });
    expect(await evaluate('DELETE')).toMatchObject({ decision: false });
    expect(await evaluate('DELETE')).toMatchObject({ decision: false });
    expect(await evaluate('GET')).toMatchObject({ decision: true });
  });
});
