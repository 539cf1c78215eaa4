import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CacheSetup } from '../src/cache/from-config.js';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { cacheFromEnv, eventually, uniquePrefix } from './helpers/cache.js';
import { RedisServer } from './helpers/redis-server.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const permitted = {
  subject: { id: 'alice', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } },
  action: 'read',
  resource: { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'EU' } },
};

async function decide(app: App): Promise<Record<string, unknown>> {
  const res = await postJson(app, '/decide', { ...permitted, subject: { ...permitted.subject, id: `u-${randomUUID()}` } });
  expect(res.status).toBe(200);
  return readJson(res);
}

/** Decides the same question twice and returns where the second answer came from. */
async function decideTwice(app: App): Promise<unknown> {
  const body = { ...permitted, subject: { ...permitted.subject, id: `u-${randomUUID()}` } };
  const first = await readJson(await postJson(app, '/decide', body));
  expect(first).toMatchObject({ decision: 'permit' });
  // Writes are not waited for.
  await sleep(50);
  return (await readJson(await postJson(app, '/decide', body))).cached;
}

describe('the Redis database REDIS_URL names', () => {
  let server: RedisServer;
  let admin: Redis;
  let setup: CacheSetup | undefined;
  beforeAll(async () => {
    // Databases 0 and 1 only.
    server = await RedisServer.start({ extraArgs: ['--databases', '2'] });
    admin = new Redis(server.url);
  });
  afterEach(async () => {
    await setup?.close();
    setup = undefined;
  });
  afterAll(async () => {
    admin.disconnect();
    await server.stop();
  });

  async function appFor(url: string, prefix: string): Promise<{ app: App; setup: CacheSetup }> {
    setup = await cacheFromEnv({ REDIS_URL: url, CACHE_PREFIX: prefix, REDIS_COMMAND_TIMEOUT_MS: '1000', REDIS_BACKOFF_MS: '10' });
    const { app } = await buildTestApp({ cache: setup.cache, app: { redisState: setup.redisState } });
    return { app, setup };
  }

  const keysIn = async (db: number, prefix: string) => {
    await admin.select(db);
    return admin.keys(`${prefix}*`);
  };

  it('keeps decisions in that database', async () => {
    const prefix = uniquePrefix();
    const { app, setup } = await appFor(`${server.url}/1`, prefix);
    await eventually('Redis to be up', () => setup.redisState() === 'up');
    expect(await decideTwice(app)).toBe('redis');
    expect(await keysIn(1, prefix)).toHaveLength(1);
    expect(await keysIn(0, prefix)).toEqual([]);
  });

  it('takes Redis for down, and never uses database 0 instead, when Redis refuses to select it', async () => {
    const prefix = uniquePrefix();
    const { app, setup } = await appFor(`${server.url}/7`, prefix);
    // Long enough for many probes at REDIS_BACKOFF_MS=10 (the longest pause is 80 ms).
    await sleep(600);
    expect(setup.redisState()).toBe('down');
    expect((await readJson(await app.request('/readyz'))).redis).toBe('down');
    expect(await decide(app)).toMatchObject({ decision: 'permit' });
    expect(await decideTwice(app)).toBeUndefined();
    expect(await keysIn(0, prefix)).toEqual([]);
  });
});
