import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CacheSetup } from '../src/cache/from-config.js';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { interopDir } from './helpers/authzen.js';
import { cacheFromEnv, eventually, uniquePrefix } from './helpers/cache.js';
import { RedisServer } from './helpers/redis-server.js';
import { slowRedis, type SlowRedis } from './helpers/slow-redis.js';

const delayMs = 40;
/** The records of the interop data, all of them candidates of a resource search. */
const records = 20;

describe('AuthZEN search with a Redis decision cache 40 ms away', () => {
  let server: RedisServer;
  let admin: Redis;
  let proxy: SlowRedis;
  let setup: CacheSetup;
  beforeAll(async () => {
    server = await RedisServer.start();
    admin = new Redis(server.url);
    proxy = await slowRedis(server.url, delayMs);
  });
  afterAll(async () => {
    await setup.close();
    admin.disconnect();
    await proxy.close();
    await server.stop();
  });

  /** GETRANGE commands Redis has run since its statistics were reset. */
  const lookups = async () => Number(/^cmdstat_getrange:calls=(\d+)/m.exec(await admin.info('commandstats'))?.[1] ?? 0);

  it('looks a page\'s candidates up together: one round trip, not one per candidate', async () => {
    setup = await cacheFromEnv({ CACHE_MEMORY_ENTRIES: '0', REDIS_URL: proxy.url, CACHE_PREFIX: uniquePrefix(), REDIS_COMMAND_TIMEOUT_MS: '500' });
    await eventually('Redis to be up', () => setup.redisState() === 'up');
    const { app } = await buildTestApp({ policyDir: interopDir, cache: setup.cache });
    const request = { subject: { type: 'user', id: 'alice' }, action: { name: 'delete' }, resource: { type: 'record' } };
    const expected = { results: ['101', '107', '113', '119'].map((id) => ({ type: 'record', id })), page: { next_token: '', count: 4 } };
    const page = async () => {
      const started = performance.now();
      const body = await readJson(await postJson(app, '/access/v1/search/resource', request));
      return { body, tookMs: performance.now() - started };
    };

    const first = await page();
    expect(first.body).toEqual(expected);
    // Its decisions are written to Redis without being waited for.
    await eventually('every decision to be in Redis', async () => (await admin.keys('*')).length === records);
    // And the writes' replies through the proxy.
    await new Promise((done) => setTimeout(done, delayMs * 3));

    await admin.config('RESETSTAT');
    const roundTripsBefore = proxy.roundTrips;
    const second = await page();
    expect(second.body).toEqual(expected);
    expect(await lookups()).toBe(records);
    // One candidate after the other took 20 round trips, over 800 ms. Counted, not timed: on a
    // loaded host the one round trip's page took 458 ms, past the 400 ms it was held to.
    expect(proxy.roundTrips - roundTripsBefore).toBe(1);

    // A short page looks up its hits and the one past it together too, not the look-ahead apart.
    const short = { ...request, action: { name: 'view' }, page: { limit: 2 } };
    const firstShort = await readJson(await postJson(app, '/access/v1/search/resource', short));
    expect(firstShort.results).toEqual(['101', '102'].map((id) => ({ type: 'record', id })));
    await eventually('the short page\'s decisions to be in Redis', async () => (await admin.keys('*')).length === records + 3);
    await new Promise((done) => setTimeout(done, delayMs * 3));
    const shortRoundTripsBefore = proxy.roundTrips;
    expect((await readJson(await postJson(app, '/access/v1/search/resource', short))).results).toEqual(firstShort.results);
    expect(proxy.roundTrips - shortRoundTripsBefore).toBe(1);

    // Redis stops answering: the page's lookups fail together, at the deadline, and every
    // candidate is decided without Redis, as it would be with no cache.
    await server.kill('SIGSTOP');
    try {
      const stalled = await page();
      expect(stalled.body).toEqual(expected);
      expect(stalled.tookMs).toBeLessThan(1_500);
      expect(setup.redisState()).toBe('down');
    } finally {
      await server.kill('SIGCONT');
    }
  });
});
