import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CacheSetup } from '../src/cache/from-config.js';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { cacheFromEnv, eventually, uniquePrefix } from './helpers/cache.js';
import { RedisServer } from './helpers/redis-server.js';
import { servesFromRedis } from './helpers/serves-from-redis.js';

describe('Redis deployments', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('uses a Redis Cluster named by REDIS_CLUSTER_NODES', async () => {
    const node = await RedisServer.start({ extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-announce-ip', '127.0.0.1'] });
    cleanup.push(() => node.stop());
    const admin = new Redis(node.url);
    cleanup.push(async () => admin.disconnect());
    await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
    await eventually('the cluster to be ok', async () => String(await admin.call('CLUSTER', 'INFO')).includes('cluster_state:ok'), 10_000);

    const setup = cacheFromEnv({ CACHE_MEMORY_ENTRIES: '0', REDIS_CLUSTER_NODES: `127.0.0.1:${node.port}`, CACHE_PREFIX: uniquePrefix(), REDIS_COMMAND_TIMEOUT_MS: '1000' });
    cleanup.push(() => setup.close());
    await servesFromRedis(setup);
  });

  it('finds the master through Sentinel with REDIS_SENTINELS and REDIS_SENTINEL_NAME', async () => {
    const master = await RedisServer.start();
    cleanup.push(() => master.stop());
    const sentinel = await RedisServer.start({ sentinel: true, config: [`sentinel monitor pdp-master 127.0.0.1 ${master.port} 1`] });
    cleanup.push(() => sentinel.stop());

    const setup = cacheFromEnv({
      CACHE_MEMORY_ENTRIES: '0',
      REDIS_SENTINELS: `127.0.0.1:${sentinel.port}`,
      REDIS_SENTINEL_NAME: 'pdp-master',
      CACHE_PREFIX: uniquePrefix(),
      REDIS_COMMAND_TIMEOUT_MS: '1000',
    });
    cleanup.push(() => setup.close());
    await servesFromRedis(setup);
  });

  it('finds the master through Sentinels that ask for a password with REDIS_SENTINEL_PASSWORD, and not without it', async () => {
    const master = await RedisServer.start();
    cleanup.push(() => master.stop());
    const sentinel = await RedisServer.start({ sentinel: true, config: [`sentinel monitor pdp-master 127.0.0.1 ${master.port} 1`, 'requirepass s3ntinel'] });
    cleanup.push(() => sentinel.stop());
    const env = { CACHE_MEMORY_ENTRIES: '0', REDIS_SENTINELS: `127.0.0.1:${sentinel.port}`, REDIS_SENTINEL_NAME: 'pdp-master', REDIS_COMMAND_TIMEOUT_MS: '1000' };

    const refused = cacheFromEnv({ ...env, CACHE_PREFIX: uniquePrefix() });
    cleanup.push(() => refused.close());
    const authenticated = cacheFromEnv({ ...env, REDIS_SENTINEL_PASSWORD: 's3ntinel', CACHE_PREFIX: uniquePrefix() });
    cleanup.push(() => authenticated.close());
    await servesFromRedis(authenticated);
    expect(refused.redisState()).toBe('down');
  });
});

describe('Redis that asks for a password', () => {
  let server: RedisServer;
  const setups: CacheSetup[] = [];
  beforeAll(async () => {
    server = await RedisServer.start({ extraArgs: ['--requirepass', 's3cret'] });
  });
  afterAll(async () => {
    await Promise.all(setups.map((s) => s.close()));
    await server.stop();
  });

  it('is used with the credentials in REDIS_URL', async () => {
    const setup = cacheFromEnv({ CACHE_MEMORY_ENTRIES: '0', REDIS_URL: `redis://:s3cret@127.0.0.1:${server.port}`, CACHE_PREFIX: uniquePrefix(), REDIS_COMMAND_TIMEOUT_MS: '1000' });
    setups.push(setup);
    await servesFromRedis(setup);
  });

  it('is reported down when it refuses us, and every decision is still answered', async () => {
    const setup = cacheFromEnv({ CACHE_MEMORY_ENTRIES: '0', REDIS_URL: `redis://:wrong@127.0.0.1:${server.port}`, CACHE_PREFIX: uniquePrefix(), REDIS_COMMAND_TIMEOUT_MS: '1000' });
    setups.push(setup);
    const { app } = await buildTestApp({ cache: setup.cache, app: { redisState: setup.redisState } });
    const body = {
      subject: { id: randomUUID(), properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } },
      action: 'read',
      resource: { type: 'invoice', properties: { invoice_type: 'purchase', region: 'EU' } },
    };
    for (let i = 0; i < 5; i++) {
      const res = await postJson(app, '/decide', body);
      expect(res.status).toBe(200);
      const answer = await readJson(res);
      expect(answer.decision).toBe('permit');
      expect(answer).not.toHaveProperty('cached');
      await new Promise((r) => setTimeout(r, 50));
    }
    const ready = await app.request('/readyz');
    expect(ready.status).toBe(200);
    expect(await readJson(ready)).toMatchObject({ redis: 'down' });
  });
});
