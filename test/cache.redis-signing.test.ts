import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { postJson, readJson, type buildTestApp } from './helpers/app.js';
import { CountingObserver, eventually } from './helpers/cache.js';
import { redisReplicas } from './helpers/redis-replicas.js';
import { configProblems } from './helpers/config.js';
import { spawnServer } from './helpers/spawn-server.js';

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
  const { replica, prefix, redis: client } = redisReplicas();

  async function decide(app: App, body: unknown): Promise<Record<string, unknown>> {
    const res = await postJson(app, '/decide', body);
    expect(res.status).toBe(200);
    return readJson(res);
  }

  /** Asks `body` once and returns the key its decision was stored under. */
  async function keyOf(app: App, body: unknown): Promise<string> {
    const before = new Set(await client().keys(`${prefix}*`));
    await decide(app, body);
    let key: string | undefined;
    await eventually('the decision to reach Redis', async () => {
      key = (await client().keys(`${prefix}*`)).find((k) => !before.has(k));
      return key !== undefined;
    });
    return key ?? '';
  }

  it('shares signed entries between replicas holding the secret', async () => {
    const { app: first } = await replica({ CACHE_SIGNING_SECRET: secret });
    const { app: second } = await replica({ CACHE_SIGNING_SECRET: secret });
    const body = denyRequest();
    const key = await keyOf(first, body);
    expect(await client().get(key)).toMatch(/^[\w-]{43}\.\{"k":/);
    expect(await decide(second, body)).toMatchObject({ decision: 'deny', cached: 'redis' });
  });

  it('never serves an entry it did not sign: a forged permit is an invalid entry, replaced by the evaluated deny', async () => {
    const observer = new CountingObserver();
    const { app } = await replica({ CACHE_SIGNING_SECRET: secret }, { observer });
    const body = denyRequest();
    const key = await keyOf(app, body);
    // Set to expire within CACHE_TTL_SECONDS (30 s by default): a later expiry alone is refused.
    const permit = { k: key, e: Date.now() + 10_000, d: { decision: 'permit', reasons: [{ policy: 'invoices', rule: 'P2-finance-read-own-region', effect: 'permit' }], advice: [] } };
    const json = JSON.stringify(permit);
    // Unsigned, as a writer without the secret would store it; signed with another secret; a real signature over other data.
    const genuine = (await client().get(key)) ?? '';
    for (const forged of [json, `${'A'.repeat(43)}.${json}`, `${genuine.slice(0, 43)}.${json}`]) {
      await client().set(key, forged, 'PX', 60_000);
      const errors = observer.count('redis:error');
      expect(await decide(app, body)).toMatchObject({ decision: 'deny' });
      expect(observer.count('redis:error')).toBe(errors + 1);
      await eventually('the forged entry to be replaced', async () => (await client().get(key)) !== forged);
    }
    expect(await decide(app, body)).toMatchObject({ decision: 'deny', cached: 'redis' });
  });

  it('without a secret too, refuses an entry set to outlive CACHE_TTL_SECONDS: no replica writes one', async () => {
    const { app: writer } = await replica({ CACHE_TTL_SECONDS: '30' });
    const observer = new CountingObserver();
    const { app: reader } = await replica({ CACHE_TTL_SECONDS: '30', CACHE_MEMORY_ENTRIES: '100' }, { observer });
    const body = denyRequest();
    const key = await keyOf(writer, body);
    // Before, this permit was served, and copied into the reader's memory layer until 2100,
    // where it outlived its deletion from Redis.
    const permit = { k: key, e: Date.parse('2100-01-01T00:00:00Z'), d: { decision: 'permit', reasons: [{ policy: 'invoices', rule: 'P2-finance-read-own-region', effect: 'permit' }], advice: [] } };
    await client().set(key, JSON.stringify(permit));
    expect(await decide(reader, body)).toMatchObject({ decision: 'deny' });
    expect(observer.count('redis:error')).toBe(1);
    await client().del(key);
    expect(await decide(reader, body)).toMatchObject({ decision: 'deny', cached: 'memory' });
  });

  it('is refused without Redis, and when shorter than 32 characters', () => {
    expect(configProblems({ CACHE_SIGNING_SECRET: secret })).toEqual([
      'CACHE_SIGNING_SECRET: signs the Redis cache entries: set REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS too',
    ]);
    expect(configProblems({ CACHE_SIGNING_SECRET: 'short', REDIS_URL: 'redis://127.0.0.1:6379' })).toEqual([
      'CACHE_SIGNING_SECRET: use at least 32 characters (e.g. openssl rand -base64 32)',
    ]);
  });

  it('is warned about at start when Redis is configured without it, and only then', async () => {
    const warning = /"level":40[^\n]*CACHE_SIGNING_SECRET is not set: whoever can write to Redis can store a permit/;
    const base = { POLICY_DIR: resolve(import.meta.dirname, '../policies'), REDIS_URL: inject('redisUrl'), CACHE_PREFIX: `warn-${randomUUID()}:` };
    // Set empty, it is unset as any blank value, but most likely a secret lost on its way (a
    // Kubernetes secret or a template value rendered empty): the log says it was given empty.
    const givenEmpty = /"level":40[^\n]*"name":"CACHE_SIGNING_SECRET"[^\n]*"msg":"set empty: counted as unset/;
    const cases: [string | undefined, boolean, boolean][] = [[undefined, true, false], [secret, false, false], ['', true, true]];
    for (const [given, warned, empty] of cases) {
      const server = spawnServer(given === undefined ? base : { ...base, CACHE_SIGNING_SECRET: given });
      try {
        await server.listening;
        const shown = given === undefined ? 'unset' : `${String(given.length)} characters`;
        expect(warning.test(server.output()), shown).toBe(warned);
        expect(givenEmpty.test(server.output()), shown).toBe(empty);
      } finally {
        server.child.kill('SIGKILL');
        await server.exited;
      }
    }
  });
});
