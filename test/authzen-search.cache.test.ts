import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CacheSetup } from '../src/cache/from-config.js';
import type { CacheSource } from '../src/cache/layer.js';
import { AuditLog } from '../src/telemetry/audit.js';
import { PdpMetrics } from '../src/telemetry/metrics.js';
import { telemetryRecorder } from '../src/telemetry/recorder.js';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { interopDir } from './helpers/authzen.js';
import { cacheFromEnv, eventually, uniquePrefix } from './helpers/cache.js';
import { memorySink, sample, scrape } from './helpers/telemetry.js';

/** The records of the interop data, all of them candidates of a resource search. */
const records = 20;
const request = { subject: { type: 'user', id: 'alice' }, action: { name: 'delete' }, resource: { type: 'record' } };
const owned = ['101', '107', '113', '119'].map((id) => ({ type: 'record', id }));

const modes: { readonly layer: CacheSource; readonly env: () => Record<string, string> }[] = [
  { layer: 'memory', env: () => ({ CACHE_MEMORY_ENTRIES: '1000' }) },
  { layer: 'redis', env: () => ({ CACHE_MEMORY_ENTRIES: '0', REDIS_URL: inject('redisUrl'), REDIS_COMMAND_TIMEOUT_MS: '1000' }) },
];

describe.each(modes)('AuthZEN search: cache metrics count what each decision used ($layer)', ({ layer, env }) => {
  let setup: CacheSetup;
  let app: Awaited<ReturnType<typeof buildTestApp>>['app'];
  const metrics = new PdpMetrics();
  const start = Date.now();
  let nowMs = start;
  /** The clock's next reading, once: a search page reads it first to look its candidates up ahead. */
  let lookAheadAt: number | undefined;

  beforeAll(async () => {
    setup = await cacheFromEnv({ ...env(), CACHE_PREFIX: uniquePrefix(), CACHE_TTL_SECONDS: '10' }, metrics);
    const recorder = telemetryRecorder(metrics, new AuditLog({ sink: memorySink() }));
    const clock = () => {
      const at = lookAheadAt ?? nowMs;
      lookAheadAt = undefined;
      return new Date(at);
    };
    ({ app } = await buildTestApp({ policyDir: interopDir, cache: setup.cache, clock, recorder, app: { metrics, redisState: setup.redisState } }));
    if (layer === 'redis') await eventually('Redis to be up', () => setup.redisState() === 'up');
  });
  afterAll(() => setup.close());

  const counts = async () => {
    const text = await scrape(app);
    const count = (name: string, labels: Record<string, string>) => sample(text, name, labels) ?? 0;
    return {
      hit: count('pdp_cache_requests_total', { layer, result: 'hit' }),
      miss: count('pdp_cache_requests_total', { layer, result: 'miss' }),
      cached: count('pdp_decisions_total', { decision: 'permit', endpoint: 'authzen_search', source: layer }) + count('pdp_decisions_total', { decision: 'deny', endpoint: 'authzen_search', source: layer }),
      writes: count('pdp_cache_writes_total', { layer: 'redis', result: 'ok' }),
    };
  };
  const page = async () => {
    const res = await postJson(app, '/access/v1/search/resource', request);
    expect(res.status).toBe(200);
    expect((await readJson(res)).results).toEqual(owned);
  };

  it('counts an entry found ahead that expired before its candidate was decided as a miss, not a hit', async () => {
    // Every candidate decided at `start`, and cached until start + 10 s.
    await page();
    if (layer === 'redis') await eventually('every decision to be in Redis', async () => (await counts()).writes === records);

    // Looked up ahead while live, decided once expired: each evaluated, so each a miss.
    const before = await counts();
    lookAheadAt = start + 5_000;
    nowMs = start + 20_000;
    await page();
    const expired = await counts();
    expect(expired.cached - before.cached).toBe(0);
    expect({ hit: expired.hit - before.hit, miss: expired.miss - before.miss }).toEqual({ hit: 0, miss: records });
    if (layer === 'redis') await eventually('the new decisions to be in Redis', async () => (await counts()).writes === 2 * records);

    // Found ahead and still live when decided: each served from the cache, and counted a hit.
    await page();
    const served = await counts();
    expect(served.cached - expired.cached).toBe(records);
    expect({ hit: served.hit - expired.hit, miss: served.miss - expired.miss }).toEqual({ hit: records, miss: 0 });
  });

  it('still counts the entries found for candidates past where a page stops, as the lookups they were', async () => {
    const before = await counts();
    const res = await postJson(app, '/access/v1/search/resource', { ...request, page: { limit: 1 } });
    expect((await readJson(res)).results).toEqual(owned.slice(0, 1));
    // Chunks of 2, 4 and 8 candidates, the page stopping at the 7th (107, a second hit): 14
    // looked up, 7 decided, 1 answered for.
    const after = await counts();
    expect({ hit: after.hit - before.hit, miss: after.miss - before.miss, cached: after.cached - before.cached }).toEqual({ hit: 14, miss: 0, cached: 1 });
  });
});
