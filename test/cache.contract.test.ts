import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CacheEntry, CacheLayer } from '../src/cache/layer.js';
import { MemoryCacheLayer } from '../src/cache/memory.js';
import { RedisCacheLayer } from '../src/cache/redis.js';
import type { Verdict } from '../src/decision/types.js';
import { pacer } from '../src/pace.js';
import { CountingObserver, eventually, uniquePrefix } from './helpers/cache.js';

interface Subject {
  readonly layer: CacheLayer;
  readonly observer: CountingObserver;
  close(): Promise<void>;
}

const drivers: { name: 'memory' | 'redis'; open: () => Promise<Subject> }[] = [
  {
    name: 'memory',
    open: async () => {
      const observer = new CountingObserver();
      return { layer: new MemoryCacheLayer({ maxEntries: 1_000, observer }), observer, close: async () => {} };
    },
  },
  {
    name: 'redis',
    open: async () => {
      const observer = new CountingObserver();
      const layer = new RedisCacheLayer({ target: { mode: 'standalone', url: inject('redisUrl') }, commandTimeoutMs: 1_000, backoffMs: 100, maxTtlMs: 60_000, observer });
      await eventually('Redis to be up', () => layer.state() === 'up');
      return { layer, observer, close: () => layer.close() };
    },
  },
];

const permit: Verdict = {
  decision: 'permit',
  reasons: [{ policy: 'invoices', rule: 'P2-finance-read-own-region', effect: 'permit' }],
  advice: [{ policy: 'invoices', rule: 'P2-finance-read-own-region', advice: { note: 'ok', nested: { level: 2 } } }],
};

const deny: Verdict = {
  decision: 'deny',
  reasons: [{ policy: 'invoices', rule: 'D3-approve-requires-mfa', effect: 'deny' }],
  advice: [{ policy: 'invoices', rule: 'D3-approve-requires-mfa', advice: { step_up: 'mfa' } }],
};

describe.each(drivers)('cache layer contract: $name', ({ name, open }) => {
  let subject: Subject;
  const prefix = uniquePrefix();
  const freshKey = () => `${prefix}${randomUUID()}`;

  beforeAll(async () => {
    subject = await open();
  });
  afterAll(async () => {
    await subject.close();
  });

  it('names itself', () => {
    expect(subject.layer.name).toBe(name);
  });

  it('misses a key that was never set, and reports the miss', async () => {
    const before = subject.observer.count(`${name}:miss`);
    expect(await subject.layer.get(freshKey(), Date.now())).toBeUndefined();
    expect(subject.observer.count(`${name}:miss`)).toBe(before + 1);
  });

  it('returns what was set, reasons and advice intact, and reports the hit', async () => {
    const key = freshKey();
    const now = Date.now();
    const entry: CacheEntry = { verdict: permit, expiresAt: now + 60_000 };
    subject.layer.set(key, entry, 60_000);
    const before = subject.observer.count(`${name}:hit`);
    expect(await subject.layer.get(key, now)).toEqual(entry);
    expect(subject.observer.count(`${name}:hit`)).toBe(before + 1);
  });

  it('never serves an entry at or past its expiresAt, whatever its storage TTL', async () => {
    const key = freshKey();
    const now = Date.now();
    subject.layer.set(key, { verdict: permit, expiresAt: now + 1_000 }, 60_000);
    expect(await subject.layer.get(key, now + 999)).toBeDefined();
    expect(await subject.layer.get(key, now + 1_000)).toBeUndefined();
    expect(await subject.layer.get(key, now + 5_000)).toBeUndefined();
  });

  it('forgets an entry once its storage TTL has run out', async () => {
    const key = freshKey();
    const now = Date.now();
    subject.layer.set(key, { verdict: permit, expiresAt: now + 60_000 }, 50);
    expect(await subject.layer.get(key, now)).toBeDefined();
    await new Promise((r) => setTimeout(r, 150));
    expect(await subject.layer.get(key, now)).toBeUndefined();
  });

  it('keeps keys apart, and a later write replaces an earlier one', async () => {
    const [a, b] = [freshKey(), freshKey()];
    const now = Date.now();
    subject.layer.set(a, { verdict: permit, expiresAt: now + 60_000 }, 60_000);
    subject.layer.set(b, { verdict: deny, expiresAt: now + 60_000 }, 60_000);
    expect((await subject.layer.get(a, now))?.verdict).toEqual(permit);
    expect((await subject.layer.get(b, now))?.verdict).toEqual(deny);
    subject.layer.set(a, { verdict: deny, expiresAt: now + 60_000 }, 60_000);
    expect((await subject.layer.get(a, now))?.verdict).toEqual(deny);
  });

  it('looks several keys up at once, each answered as get answers it, in order, misses counted and hits left to whoever takes them', async () => {
    const [held, missing, expired] = [freshKey(), freshKey(), freshKey()];
    const now = Date.now();
    const entry: CacheEntry = { verdict: permit, expiresAt: now + 60_000 };
    subject.layer.set(held, entry, 60_000);
    subject.layer.set(expired, { verdict: permit, expiresAt: now + 10 }, 60_000);
    await eventually('the writes to be stored', async () => (await subject.layer.get(held, now)) !== undefined);
    const [hits, misses] = [subject.observer.count(`${name}:hit`), subject.observer.count(`${name}:miss`)];
    expect(await subject.layer.getMany([missing, held, expired], now + 10, pacer())).toEqual([undefined, entry, undefined]);
    // A hit is counted when its decision takes it, which may be once it has expired (LookedAhead).
    expect(subject.observer.count(`${name}:hit`)).toBe(hits);
    expect(subject.observer.count(`${name}:miss`)).toBe(misses + 2);
    expect(await subject.layer.getMany([], now, pacer())).toEqual([]);
  });
});
