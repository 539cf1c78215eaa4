import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CacheSetup } from '../src/cache/from-config.js';
import { PdpMetrics } from '../src/telemetry/metrics.js';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { cacheFromEnv, eventually, uniquePrefix } from './helpers/cache.js';
import { freePort } from './helpers/free-port.js';
import { RedisServer } from './helpers/redis-server.js';
import { sample, scrape } from './helpers/telemetry.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

/** A permit never asked before: a lookup that misses, then a write. */
async function decideNew(app: App): Promise<void> {
  const res = await postJson(app, '/decide', {
    subject: { id: `u-${randomUUID()}`, properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } },
    action: 'read',
    resource: { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'EU' } },
  });
  expect(res.status).toBe(200);
  expect(await readJson(res)).toMatchObject({ decision: 'permit' });
}

describe('decision cache writes to Redis', () => {
  let server: RedisServer;
  let admin: Redis;
  let setup: CacheSetup | undefined;
  beforeAll(async () => {
    server = await RedisServer.start();
    admin = new Redis(server.url);
  });
  afterAll(async () => {
    await setup?.close();
    admin.disconnect();
    await server.stop();
  });

  it('counts a refused write as a write, apart from the lookups', async () => {
    const metrics = new PdpMetrics();
    setup = cacheFromEnv({ CACHE_MEMORY_ENTRIES: '0', REDIS_URL: server.url, CACHE_PREFIX: uniquePrefix(), REDIS_COMMAND_TIMEOUT_MS: '1000', REDIS_BACKOFF_MS: '10000' }, metrics);
    const current = setup;
    await eventually('Redis to be up', () => current.redisState() === 'up');
    const { app } = await buildTestApp({ cache: setup.cache, app: { redisState: setup.redisState, metrics } });
    const lookups = (text: string, result: string) => sample(text, 'pdp_cache_requests_total', { layer: 'redis', result });
    const writes = (text: string, result: string) => sample(text, 'pdp_cache_writes_total', { layer: 'redis', result });

    await decideNew(app);
    await eventually('the first write to be stored', async () => (await admin.dbsize()) === 1);

    // A replica of a master that is gone, as after a failover the client has not followed yet:
    // reads are answered (nil for a new key), every write with -READONLY.
    await admin.replicaof('127.0.0.1', await freePort());
    expect(await admin.set('probe', '1').catch((error: Error) => error.message)).toMatch(/^READONLY/);

    await decideNew(app);
    // A failed write still leaves Redis alone for a pause (REDIS_BACKOFF_MS).
    await eventually('the refused write to take Redis out of use', () => current.redisState() === 'down');
    const text = await scrape(app);
    expect(sample(text, 'pdp_redis_up')).toBe(0);
    // Two lookups, both misses: the refused write is not one of them.
    expect(lookups(text, 'miss')).toBe(2);
    expect(lookups(text, 'error')).toBe(0);
    expect(lookups(text, 'hit')).toBe(0);
    expect(writes(text, 'ok')).toBe(1);
    expect(writes(text, 'error')).toBe(1);
    expect(writes(text, 'too_large')).toBe(0);
  });
});
