import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DecisionCache } from '../src/cache/decision-cache.js';
import type { CacheSetup } from '../src/cache/from-config.js';
import type { CacheLayer } from '../src/cache/layer.js';
import { MemoryCacheLayer } from '../src/cache/memory.js';
import { RedisCacheLayer } from '../src/cache/redis.js';
import type { Query, Verdict } from '../src/decision/types.js';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { cacheFromEnv, CountingObserver, eventually, uniquePrefix } from './helpers/cache.js';

const permit: Verdict = { decision: 'permit', reasons: [{ policy: 'p', rule: 'r', effect: 'permit' }], advice: [] };

function query(id = randomUUID()): Query {
  return {
    subject: { type: 'user', id, roles: ['accountant'], scopes: [], aliases: [], properties: {} },
    action: { name: 'read', properties: {} },
    resource: { type: 'invoice', properties: { region: 'EU' } },
    context: {},
  };
}

const drivers: { name: 'memory' | 'redis'; open: () => Promise<{ layer: CacheLayer; close(): Promise<void> }> }[] = [
  { name: 'memory', open: async () => ({ layer: new MemoryCacheLayer({ maxEntries: 100 }), close: async () => {} }) },
  {
    name: 'redis',
    open: async () => {
      const layer = new RedisCacheLayer({ target: { mode: 'standalone', url: inject('redisUrl') }, commandTimeoutMs: 1_000, backoffMs: 100, maxTtlMs: 60_000 });
      await eventually('Redis to be up', () => layer.state() === 'up');
      return { layer, close: () => layer.close() };
    },
  },
];

describe.each(drivers)('single flight over the $name layer', ({ name, open }) => {
  let layer: CacheLayer;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ layer, close } = await open());
  });
  afterAll(async () => {
    await close();
  });

  it('evaluates identical concurrent misses once, and distinct ones once each', async () => {
    const cache = new DecisionCache({ layers: [layer], prefix: uniquePrefix(), ttlSeconds: 30 });
    const evaluations = new Map<string, number>();
    const evaluate = (q: Query) => () => {
      evaluations.set(q.subject.id, (evaluations.get(q.subject.id) ?? 0) + 1);
      return permit;
    };
    const [a, b] = [query(), query()];
    const answers = await Promise.all([
      ...Array.from({ length: 25 }, () => cache.resolve('v1', a, Date.now(), evaluate(a))),
      ...Array.from({ length: 25 }, () => cache.resolve('v1', b, Date.now(), evaluate(b))),
    ]);
    expect(answers.every((answer) => answer.verdict.decision === 'permit')).toBe(true);
    expect([...evaluations.values()]).toEqual([1, 1]);

    const later = await cache.resolve('v1', a, Date.now(), evaluate(a));
    expect(later.source).toBe(name);
    expect(evaluations.get(a.subject.id)).toBe(1);
  });

  it('hands an evaluation failure to every waiter and tries afresh next time', async () => {
    const cache = new DecisionCache({ layers: [layer], prefix: uniquePrefix(), ttlSeconds: 30 });
    const q = query();
    let calls = 0;
    const failing = () => {
      calls++;
      throw new Error('boom');
    };
    const settled = await Promise.allSettled(Array.from({ length: 10 }, () => cache.resolve('v1', q, Date.now(), failing)));
    expect(settled.every((s) => s.status === 'rejected')).toBe(true);
    expect(calls).toBe(1);
    expect((await cache.resolve('v1', q, Date.now(), () => permit)).verdict).toEqual(permit);
  });
});

describe('single flight through POST /decide', () => {
  let setup: CacheSetup;
  const observer = new CountingObserver();
  afterAll(async () => {
    await setup.close();
  });

  it('looks Redis up once for a burst of identical requests, answers each of them, and records those that joined as coalesced', async () => {
    setup = await cacheFromEnv({ CACHE_MEMORY_ENTRIES: '0', REDIS_URL: inject('redisUrl'), CACHE_PREFIX: uniquePrefix(), REDIS_COMMAND_TIMEOUT_MS: '1000' }, observer);
    await eventually('Redis to be up', () => setup.redisState() === 'up');
    const sources: (string | undefined)[] = [];
    const { app } = await buildTestApp({ cache: setup.cache, recorder: { record: (record) => void sources.push(record.outcome.source) } });
    const body = {
      subject: { id: randomUUID(), properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } },
      action: 'read',
      resource: { type: 'invoice', properties: { invoice_type: 'purchase', region: 'EU' } },
    };
    const responses = await Promise.all(Array.from({ length: 30 }, () => postJson(app, '/decide', body)));
    const bodies = await Promise.all(responses.map(readJson));
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(bodies.every((b) => b.decision === 'permit')).toBe(true);
    expect(new Set(bodies.map((b) => b.decisionId)).size).toBe(30);
    expect(observer.count('redis:miss')).toBe(1);
    expect(sources.filter((source) => source === undefined)).toHaveLength(1);
    expect(sources.filter((source) => source === 'coalesced')).toHaveLength(29);
  });
});
