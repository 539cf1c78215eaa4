import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CacheSetup } from '../src/cache/from-config.js';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { cacheFromEnv, CountingObserver, eventually, uniquePrefix } from './helpers/cache.js';
import { configProblems } from './helpers/config.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

const secret = 'cache-signing-secret-0123456789abcdef';

/** A deny of the shipped policies (regions differ), for a subject no other test asks about. */
function denyRequest() {
  return {
    subject: { id: `u-${randomUUID()}`, properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } },
    action: 'read',
    resource: { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'US' } },
  };
}

describe('signed Redis cache entries (CACHE_SIGNING_SECRET)', () => {
  let redis: Redis;
  const setups: CacheSetup[] = [];
  const prefix = uniquePrefix();

  beforeAll(() => {
    redis = new Redis(inject('redisUrl'));
  });
  afterEach(async () => {
    for (const setup of setups.splice(0)) await setup.close();
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  async function replica(env: Record<string, string>, observer = new CountingObserver()): Promise<{ app: App; observer: CountingObserver }> {
    const setup = cacheFromEnv({ CACHE_MEMORY_ENTRIES: '0', REDIS_URL: inject('redisUrl'), CACHE_PREFIX: prefix, ...env }, observer);
    setups.push(setup);
    await eventually('Redis to be up', () => setup.redisState() === 'up');
    return { app: (await buildTestApp({ cache: setup.cache, app: { redisState: setup.redisState } })).app, observer };
  }

  async function decide(app: App, body: unknown): Promise<Record<string, unknown>> {
    const res = await postJson(app, '/decide', body);
    expect(res.status).toBe(200);
    return readJson(res);
  }

  /** Asks `body` once and returns the key its decision was stored under. */
  async function keyOf(app: App, body: unknown): Promise<string> {
    const before = new Set(await redis.keys(`${prefix}*`));
    await decide(app, body);
    let key: string | undefined;
    await eventually('the decision to reach Redis', async () => {
      key = (await redis.keys(`${prefix}*`)).find((k) => !before.has(k));
      return key !== undefined;
    });
    return key ?? '';
  }

  it('shares signed entries between replicas holding the secret', async () => {
    const { app: first } = await replica({ CACHE_SIGNING_SECRET: secret });
    const { app: second } = await replica({ CACHE_SIGNING_SECRET: secret });
    const body = denyRequest();
    const key = await keyOf(first, body);
    expect(await redis.get(key)).toMatch(/^[\w-]{43}\.\{"k":/);
    expect(await decide(second, body)).toMatchObject({ decision: 'deny', cached: 'redis' });
  });

  it('never serves an entry it did not sign: a forged permit is an invalid entry, replaced by the evaluated deny', async () => {
    const { app, observer } = await replica({ CACHE_SIGNING_SECRET: secret });
    const body = denyRequest();
    const key = await keyOf(app, body);
    const permit = { k: key, e: Date.now() + 60_000, d: { decision: 'permit', reasons: [{ policy: 'invoices', rule: 'P2-finance-read-own-region', effect: 'permit' }], advice: [] } };
    const json = JSON.stringify(permit);
    // Unsigned, as a writer without the secret would store it; signed with another secret; a real signature over other data.
    const genuine = (await redis.get(key)) ?? '';
    for (const forged of [json, `${'A'.repeat(43)}.${json}`, `${genuine.slice(0, 43)}.${json}`]) {
      await redis.set(key, forged, 'PX', 60_000);
      const errors = observer.count('redis:error');
      expect(await decide(app, body)).toMatchObject({ decision: 'deny' });
      expect(observer.count('redis:error')).toBe(errors + 1);
      await eventually('the forged entry to be replaced', async () => (await redis.get(key)) !== forged);
    }
    expect(await decide(app, body)).toMatchObject({ decision: 'deny', cached: 'redis' });
  });

  it('is refused without Redis, and when shorter than 32 characters', () => {
    expect(configProblems({ CACHE_SIGNING_SECRET: secret })).toEqual([
      'CACHE_SIGNING_SECRET: signs the Redis cache entries: set REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS too',
    ]);
    expect(configProblems({ CACHE_SIGNING_SECRET: 'short', REDIS_URL: 'redis://127.0.0.1:6379' })).toEqual([
      'CACHE_SIGNING_SECRET: use at least 32 characters (e.g. openssl rand -base64 32)',
    ]);
  });
});
