import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CacheSetup } from '../src/cache/from-config.js';
import { PdpMetrics } from '../src/telemetry/metrics.js';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { cacheFromEnv, eventually, uniquePrefix } from './helpers/cache.js';
import { RedisServer } from './helpers/redis-server.js';
import { servesFromRedis } from './helpers/serves-from-redis.js';

describe('Redis deployments', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  /**
   * A Cluster of one primary holding every slot and its replica, started with `extraArgs` too,
   * once the replica serves the slots: listed once its offset is past 0 (the primary's first
   * ping), so a client then holds a connection to the replica too, never opened while lookups
   * go to the primary.
   */
  async function clusterPair(extraArgs: readonly string[] = []): Promise<{ primary: RedisServer; replica: RedisServer }> {
    const clusterArgs = ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-announce-ip', '127.0.0.1', '--repl-diskless-sync-delay', '0', '--repl-ping-replica-period', '1', ...extraArgs];
    const primary = await RedisServer.start({ extraArgs: clusterArgs });
    cleanup.push(() => primary.stop());
    const replica = await RedisServer.start({ extraArgs: clusterArgs });
    cleanup.push(() => replica.stop());
    const admin = new Redis(primary.url);
    const replicaAdmin = new Redis(replica.url);
    try {
      await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
      await admin.call('CLUSTER', 'MEET', '127.0.0.1', String(replica.port));
      await eventually('the replica to know the primary\'s slots', async () => String(await replicaAdmin.call('CLUSTER', 'NODES')).includes('connected 0-16383'), 10_000);
      await replicaAdmin.call('CLUSTER', 'REPLICATE', String(await admin.call('CLUSTER', 'MYID')));
      await eventually('the replica to serve the slots', async () => ((await admin.call('CLUSTER', 'SLOTS')) as unknown[][])[0]?.length === 4, 10_000);
    } finally {
      admin.disconnect();
      replicaAdmin.disconnect();
    }
    return { primary, replica };
  }

  it('uses a Redis Cluster named by REDIS_CLUSTER_NODES', async () => {
    const node = await RedisServer.start({ extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-announce-ip', '127.0.0.1'] });
    cleanup.push(() => node.stop());
    const admin = new Redis(node.url);
    cleanup.push(async () => admin.disconnect());
    await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
    await eventually('the cluster to be ok', async () => String(await admin.call('CLUSTER', 'INFO')).includes('cluster_state:ok'), 10_000);

    const setup = await cacheFromEnv({ CACHE_MEMORY_ENTRIES: '0', REDIS_CLUSTER_NODES: `127.0.0.1:${node.port}`, CACHE_PREFIX: uniquePrefix(), REDIS_COMMAND_TIMEOUT_MS: '1000' });
    cleanup.push(() => setup.close());
    await servesFromRedis(setup);
  });

  it('reports a Redis Cluster down once its nodes are gone, with no decision asked, as /readyz and pdp_redis_up show', async () => {
    const { primary, replica } = await clusterPair();

    const metrics = new PdpMetrics();
    const setup = await cacheFromEnv({ CACHE_MEMORY_ENTRIES: '0', REDIS_CLUSTER_NODES: `127.0.0.1:${primary.port}`, CACHE_PREFIX: uniquePrefix(), REDIS_COMMAND_TIMEOUT_MS: '1000', REDIS_BACKOFF_MS: '100' }, metrics);
    cleanup.push(() => setup.close());
    await servesFromRedis(setup);
    const { app } = await buildTestApp({ cache: setup.cache, app: { redisState: setup.redisState, metrics } });

    await primary.kill();
    await replica.kill();
    await eventually('Redis to be reported down', async () => (await readJson(await app.request('/readyz'))).redis === 'down', 3_000);
    expect(await (await app.request('/metrics')).text()).toMatch(/^pdp_redis_up 0$/m);
  });

  it('follows a Cluster failover of a primary that takes connections but never answers', async () => {
    // No automatic failover within the test: the replica takes over when told to.
    const { primary, replica } = await clusterPair(['--cluster-node-timeout', '60000']);
    const replicaAdmin = new Redis(replica.url);
    cleanup.push(async () => replicaAdmin.disconnect());

    await primary.kill('SIGSTOP');
    // The replica names the frozen primary, and the client's ready check goes to it: as on any
    // reconnection (a probe left unanswered makes one) while a primary is frozen.
    const setup = await cacheFromEnv({ CACHE_MEMORY_ENTRIES: '0', REDIS_CLUSTER_NODES: `127.0.0.1:${replica.port}`, CACHE_PREFIX: uniquePrefix(), REDIS_COMMAND_TIMEOUT_MS: '1000', REDIS_BACKOFF_MS: '100' });
    cleanup.push(() => setup.close());
    await new Promise((r) => setTimeout(r, 500));
    await replicaAdmin.call('CLUSTER', 'FAILOVER', 'TAKEOVER');
    await eventually('the new primary to be used', () => setup.redisState() === 'up', 8_000);
    await servesFromRedis(setup);
  }, 20_000);

  it('finds the master through Sentinel with REDIS_SENTINELS and REDIS_SENTINEL_NAME', async () => {
    const master = await RedisServer.start();
    cleanup.push(() => master.stop());
    const sentinel = await RedisServer.start({ sentinel: true, config: [`sentinel monitor pdp-master 127.0.0.1 ${master.port} 1`] });
    cleanup.push(() => sentinel.stop());

    const setup = await cacheFromEnv({
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

    const refused = await cacheFromEnv({ ...env, CACHE_PREFIX: uniquePrefix() });
    cleanup.push(() => refused.close());
    const authenticated = await cacheFromEnv({ ...env, REDIS_SENTINEL_PASSWORD: 's3ntinel', CACHE_PREFIX: uniquePrefix() });
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
    const setup = await cacheFromEnv({ CACHE_MEMORY_ENTRIES: '0', REDIS_URL: `redis://:s3cret@127.0.0.1:${server.port}`, CACHE_PREFIX: uniquePrefix(), REDIS_COMMAND_TIMEOUT_MS: '1000' });
    setups.push(setup);
    await servesFromRedis(setup);
  });

  it('is reported down when it refuses us, and every decision is still answered', async () => {
    const setup = await cacheFromEnv({ CACHE_MEMORY_ENTRIES: '0', REDIS_URL: `redis://:wrong@127.0.0.1:${server.port}`, CACHE_PREFIX: uniquePrefix(), REDIS_COMMAND_TIMEOUT_MS: '1000' });
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
