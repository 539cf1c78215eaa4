import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CacheSetup } from '../src/cache/from-config.js';
import type { CacheObserver } from '../src/cache/layer.js';
import { PdpMetrics } from '../src/telemetry/metrics.js';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { cacheFromEnv, eventually, uniquePrefix } from './helpers/cache.js';
import { freePort } from './helpers/free-port.js';
import { RedisServer } from './helpers/redis-server.js';
import { sample, scrape } from './helpers/telemetry.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

/** Records when Redis was reported up and down. */
class TimedObserver implements CacheObserver {
  readonly changes: { readonly up: boolean; readonly at: number }[] = [];

  cacheRequest(): void {}

  cacheWrite(): void {}

  redisUp(up: boolean): void {
    this.changes.push({ up, at: performance.now() });
  }

  /** When Redis was reported up, in order. */
  ups(): number[] {
    return this.changes.filter((c) => c.up).map((c) => c.at);
  }
}

/** A permit never asked before, so it misses the cache and is written to Redis. */
async function decideNew(app: App): Promise<void> {
  const res = await postJson(app, '/decide', {
    subject: { id: `u-${randomUUID()}`, properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } },
    action: 'read',
    resource: { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'EU' } },
  });
  expect(res.status).toBe(200);
  expect(await readJson(res)).toMatchObject({ decision: 'permit' });
}

async function readyRedis(app: App): Promise<unknown> {
  return (await readJson(await app.request('/readyz'))).redis;
}

async function redisUpGauge(app: App): Promise<string | undefined> {
  return /^pdp_redis_up (\S+)$/m.exec(await (await app.request('/metrics')).text())?.[1];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Redis circuit breaker', () => {
  let server: RedisServer;
  let admin: Redis;
  let setup: CacheSetup | undefined;
  beforeAll(async () => {
    server = await RedisServer.start();
    admin = new Redis(server.url);
  });
  afterEach(async () => {
    await setup?.close();
    setup = undefined;
    await server.kill('SIGCONT');
    await admin.acl('DELUSER', 'pdp');
    await admin.replicaof('NO', 'ONE');
  });
  afterAll(async () => {
    admin.disconnect();
    await server.stop();
  });

  /** An app whose cache reports to `observer`; `/metrics` serves it when it is the service's metrics. */
  async function appOn(env: Record<string, string>, observer: CacheObserver): Promise<App> {
    setup = await cacheFromEnv({ CACHE_MEMORY_ENTRIES: '0', REDIS_URL: server.url, CACHE_PREFIX: uniquePrefix(), ...env }, observer);
    const current = setup;
    await eventually('Redis to be up', () => current.redisState() === 'up');
    const metrics = observer instanceof PdpMetrics ? observer : new PdpMetrics();
    return (await buildTestApp({ cache: setup.cache, app: { redisState: setup.redisState, metrics } })).app;
  }

  it('reports Redis up again once it answers, with no decision asked meanwhile', async () => {
    const metrics = new PdpMetrics();
    const app = await appOn({ REDIS_BACKOFF_MS: '100', REDIS_COMMAND_TIMEOUT_MS: '50' }, metrics);
    expect(await redisUpGauge(app)).toBe('1');

    await server.kill('SIGSTOP');
    await decideNew(app);
    expect(await readyRedis(app)).toBe('down');
    expect(await redisUpGauge(app)).toBe('0');
    await sleep(300);
    expect(await readyRedis(app)).toBe('down');

    await server.kill('SIGCONT');
    await eventually('/readyz to report Redis up, with no decision asked', async () => (await readyRedis(app)) === 'up');
    expect(await redisUpGauge(app)).toBe('1');
  });

  it('settles at the longest pause when Redis answers the probe but refuses every lookup, and starts again from the first once Redis has worked that long', async () => {
    const observer = new TimedObserver();
    await admin.acl('SETUSER', 'pdp', 'on', '>pdp-password', '~*', '+@all');
    // A 50 ms first pause, so 400 ms at most.
    const app = await appOn({ REDIS_URL: `redis://pdp:pdp-password@127.0.0.1:${server.port}`, REDIS_BACKOFF_MS: '50', REDIS_COMMAND_TIMEOUT_MS: '500' }, observer);
    let running = true;
    const load = (async () => {
      while (running) {
        await decideNew(app);
        await sleep(5);
      }
    })();
    try {
      await admin.acl('SETUSER', 'pdp', '-getrange');
      const refusing = performance.now();
      await sleep(3_000);
      const ups = observer.ups().filter((at) => at > refusing);
      const gaps = ups.slice(1).map((at, i) => Math.round(at - (ups[i] ?? at)));
      // Pauses of 100, 200, then 400 ms: every recovery after the second waits the longest pause.
      expect(ups.length, `recoveries ${gaps.join(', ')} ms apart`).toBeGreaterThanOrEqual(4);
      expect(ups.length, `recoveries ${gaps.join(', ')} ms apart`).toBeLessThanOrEqual(10);
      for (const gap of gaps.slice(2)) expect(gap).toBeGreaterThanOrEqual(400);

      await admin.acl('SETUSER', 'pdp', '+getrange');
      await eventually('Redis to stay up, lookups answered, for longer than the longest pause', () => {
        const last = observer.changes.at(-1);
        return last?.up === true && performance.now() - last.at > 600;
      });
      const healthySince = performance.now();

      await admin.acl('SETUSER', 'pdp', '-getrange');
      await eventually('Redis to be reported down, then up', () => observer.changes.filter((c) => c.at > healthySince).length >= 2);
      const [down, up] = observer.changes.filter((c) => c.at > healthySince);
      expect(down?.up).toBe(false);
      expect(up?.up).toBe(true);
      // The first pause (50 ms) again, not the longest (400 ms), which the wait could not be shorter than.
      expect((up?.at ?? Infinity) - (down?.at ?? 0)).toBeLessThan(400);
    } finally {
      running = false;
      await load;
    }
  });

  it('counts a refused write as a write, apart from the lookups', async () => {
    await admin.flushall();
    const metrics = new PdpMetrics();
    const app = await appOn({ REDIS_COMMAND_TIMEOUT_MS: '1000', REDIS_BACKOFF_MS: '10000' }, metrics);
    const lookups = (text: string, result: string) => sample(text, 'pdp_cache_requests_total', { layer: 'redis', result });
    const writes = (text: string, result: string) => sample(text, 'pdp_cache_writes_total', { layer: 'redis', result });

    await decideNew(app);
    await eventually('the first write to be stored', async () => (await admin.dbsize()) === 1);

    // A replica of a master that is gone, as after a failover the client has not followed yet:
    // reads are answered (nil for a new key), every write with -READONLY.
    await admin.replicaof('127.0.0.1', await freePort());
    expect(await admin.set('probe', '1').catch((error: Error) => error.message)).toMatch(/^READONLY/);

    await decideNew(app);
    // A refused write leaves lookups to Redis; writes wait for a pause (REDIS_BACKOFF_MS).
    await eventually('the refused write to be reported', () => setup?.redisState() === 'read_only');
    const text = await scrape(app);
    expect(sample(text, 'pdp_redis_up')).toBe(1);
    // Two lookups, both misses: the refused write is not one of them.
    expect(lookups(text, 'miss')).toBe(2);
    expect(lookups(text, 'error')).toBe(0);
    expect(lookups(text, 'hit')).toBe(0);
    expect(writes(text, 'ok')).toBe(1);
    expect(writes(text, 'error')).toBe(1);
    expect(writes(text, 'too_large')).toBe(0);
  });
});
