import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, inject } from 'vitest';
import type { CacheSetup } from '../../src/cache/from-config.js';
import type { CacheObserver } from '../../src/cache/layer.js';
import type { PdpMetrics } from '../../src/telemetry/metrics.js';
import { buildTestApp } from './app.js';
import { cacheFromEnv, eventually, uniquePrefix } from './cache.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

/** Apps sharing the test Redis under one key prefix, as replicas of one service do. */
export interface RedisReplicas {
  /** A client of that Redis, for reading and planting values. */
  readonly redis: () => Redis;
  readonly prefix: string;
  /**
   * An app (a replica) on the shared Redis and prefix, without a memory layer unless `env` sets
   * one, whose cache reports to `observer` (else to `metrics`, which /metrics then shows).
   */
  replica(env: Record<string, string>, options?: ReplicaOptions): Promise<{ app: App; setup: CacheSetup }>;
}

export interface ReplicaOptions {
  readonly observer?: CacheObserver;
  readonly metrics?: PdpMetrics;
  readonly policyDir?: string;
}

/**
 * For the describe block it is called in: a Redis client, a fresh prefix, and replicas closed
 * after each test; the prefix's keys are deleted after the block.
 */
export function redisReplicas(): RedisReplicas {
  let redis: Redis | undefined;
  const setups: CacheSetup[] = [];
  const prefix = uniquePrefix();
  beforeAll(() => {
    redis = new Redis(inject('redisUrl'));
  });
  afterEach(async () => {
    for (const setup of setups.splice(0)) await setup.close();
  });
  afterAll(async () => {
    const keys = (await redis?.keys(`${prefix}*`)) ?? [];
    if (keys.length > 0) await redis?.del(...keys);
    redis?.disconnect();
  });
  return {
    redis: () => {
      if (redis === undefined) throw new Error('redisReplicas: the Redis client exists from beforeAll on');
      return redis;
    },
    prefix,
    async replica(env, { observer, metrics, policyDir } = {}) {
      const setup = await cacheFromEnv({ CACHE_MEMORY_ENTRIES: '0', REDIS_URL: inject('redisUrl'), CACHE_PREFIX: prefix, ...env }, observer ?? metrics);
      setups.push(setup);
      await eventually('Redis to be up', () => setup.redisState() === 'up');
      const { app } = await buildTestApp({ cache: setup.cache, policyDir, app: { redisState: setup.redisState, metrics } });
      return { app, setup };
    },
  };
}
