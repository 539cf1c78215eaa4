import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_ENTRY_BYTES } from '../src/cache/entry.js';
import { maxAdviceJsonLength } from '../src/policy/schema.js';
import { PdpMetrics } from '../src/telemetry/metrics.js';
import { postJson, type buildTestApp } from './helpers/app.js';
import { CountingObserver, eventually } from './helpers/cache.js';
import { redisReplicas } from './helpers/redis-replicas.js';
import { tempDir, writeFiles } from './helpers/policy-dir.js';
import { sample, scrape } from './helpers/telemetry.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

interface Answer {
  readonly status: number;
  /** The body as sent, to tell its size. */
  readonly text: string;
  readonly body: Record<string, unknown>;
}

async function decide(app: App, body: unknown): Promise<Answer> {
  const res = await postJson(app, '/decide', body);
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as Record<string, unknown> };
}

/** A permit of the shipped policies, for a subject no other test asks about. */
function permitRequest() {
  return {
    subject: { id: `u-${randomUUID()}`, properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } },
    action: 'read',
    resource: { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'EU' } },
  };
}

interface Stored {
  readonly k: string;
  readonly e: number;
  readonly d: { readonly decision: string; readonly reasons: readonly unknown[]; readonly advice: readonly unknown[] };
}

describe('decision cache: size of what is read from Redis', () => {
  const { replica, prefix, redis: client } = redisReplicas();

  /** Asks `body` once and returns the Redis key and value its decision was stored under. */
  async function storedFor(app: App, body: unknown): Promise<{ key: string; stored: Stored }> {
    const before = new Set(await client().keys(`${prefix}*`));
    expect((await decide(app, body)).status).toBe(200);
    let key: string | undefined;
    await eventually('the decision to reach Redis', async () => {
      key = (await client().keys(`${prefix}*`)).find((k) => !before.has(k));
      return key !== undefined;
    });
    const value = await client().get(key ?? '');
    return { key: key ?? '', stored: JSON.parse(value ?? '') as Stored };
  }

  it('neither serves nor copies into memory a well-formed entry of 1 MB, counts it as an invalid entry and replaces it', async () => {
    const writer = new CountingObserver();
    const { app: first } = await replica({ REDIS_COMMAND_TIMEOUT_MS: '1000' }, { observer: writer });
    const body = permitRequest();
    const { key, stored } = await storedFor(first, body);
    expect(stored.d.advice).toEqual([]);

    // 256 advice of the longest each rule's advice may have: every part of it is within the entry schema.
    const note = 'x'.repeat(maxAdviceJsonLength - 20);
    const advice = Array.from({ length: 256 }, (_, i) => ({ policy: 'invoices', rule: `P${i}`, advice: { note } }));
    const bloated = JSON.stringify({ ...stored, e: Date.now() + 60_000, d: { ...stored.d, advice } });
    expect(bloated.length).toBeGreaterThan(1_000_000);
    await client().set(key, bloated);

    // Another replica, with a memory layer that has not seen the decision yet.
    const observer = new CountingObserver();
    const { app, setup } = await replica({ CACHE_MEMORY_ENTRIES: '100', REDIS_COMMAND_TIMEOUT_MS: '1000' }, { observer });
    const answer = await decide(app, body);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ decision: 'permit', advice: [] });
    expect(answer.body).not.toHaveProperty('cached');
    expect(answer.text.length).toBeLessThan(2_000);
    expect(observer.count('redis:error')).toBe(1);
    expect(setup.redisState()).toBe('up');

    // What the memory layer holds is the decision evaluated, not the bloated entry.
    const again = await decide(app, body);
    expect(again.body).toMatchObject({ decision: 'permit', advice: [], cached: 'memory' });
    expect(again.text.length).toBeLessThan(2_000);

    // The evaluated decision replaced the entry in Redis.
    await eventually('the entry to be replaced', async () => (await client().strlen(key)) < 2_000);
    const fromRedis = await decide(first, body);
    expect(fromRedis.body).toMatchObject({ decision: 'permit', advice: [], cached: 'redis' });
  });

  it('serves an entry of MAX_ENTRY_BYTES, and refuses one a byte longer or 1 MB long whose bytes within the bound are a whole entry (JSON padded with spaces)', async () => {
    const { app: first } = await replica({});
    const body = permitRequest();
    const { key, stored } = await storedFor(first, body);
    const json = JSON.stringify({ ...stored, e: Date.now() + 20_000 });
    const padded = (bytes: number) => json + ' '.repeat(bytes - json.length);

    const observer = new CountingObserver();
    const { app } = await replica({ REDIS_COMMAND_TIMEOUT_MS: '1000' }, { observer });
    await client().set(key, padded(MAX_ENTRY_BYTES));
    expect((await decide(app, body)).body).toMatchObject({ decision: 'permit', cached: 'redis' });
    for (const bytes of [MAX_ENTRY_BYTES + 1, 1024 * 1024]) {
      await client().set(key, padded(bytes));
      const errors = observer.count('redis:error');
      const answer = await decide(app, body);
      expect(answer.body, `${bytes} bytes`).toMatchObject({ decision: 'permit' });
      expect(answer.body, `${bytes} bytes`).not.toHaveProperty('cached');
      expect(observer.count('redis:error'), `${bytes} bytes`).toBe(errors + 1);
    }
  });

  it.each([
    ['8 MB', 8 * 1024 * 1024],
    ['64 MB', 64 * 1024 * 1024],
  ])('reads no more than the bound of a %s value: one key is invalid, Redis stays up and the value is replaced', async (_, size) => {
    // A deadline a loaded machine cannot miss: what was read is told by the bytes Redis sent.
    // The default's 20 ms made the test of the write's timing too, and the write's reply once
    // came later than that beside other test files.
    const { app: first } = await replica({ REDIS_COMMAND_TIMEOUT_MS: '1000' });
    const body = permitRequest();
    const { key, stored } = await storedFor(first, body);
    const advice = [{ policy: 'invoices', rule: 'P2-finance-read-own-region', advice: { note: 'x'.repeat(size) } }];
    await client().set(key, JSON.stringify({ ...stored, e: Date.now() + 60_000, d: { ...stored.d, advice } }));

    const { app, setup } = await replica({ REDIS_COMMAND_TIMEOUT_MS: '1000' }, { metrics: new PdpMetrics() });
    const redisErrors = async () => sample(await scrape(app), 'pdp_cache_requests_total', { layer: 'redis', result: 'error' });

    // Redis counts the bytes it sends to all its clients; other test files' are a few kilobytes.
    const sent = async () => Number(/^total_net_output_bytes:(\d+)/m.exec(await client().info('stats'))?.[1]);
    const sentBefore = await sent();
    const answer = await decide(app, body);
    expect(await sent() - sentBefore).toBeLessThan(MAX_ENTRY_BYTES + 1024 * 1024);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ decision: 'permit', advice: [] });
    expect(answer.body).not.toHaveProperty('cached');
    expect(await redisErrors()).toBe(1);
    // The breaker stays closed: a failure would leave Redis alone for REDIS_BACKOFF_MS (1 s).
    expect(setup.redisState()).toBe('up');
    expect(sample(await scrape(app), 'pdp_redis_up')).toBe(1);

    // The write of the evaluated decision went out at once, not after a pause.
    await eventually('the entry to be replaced', async () => (await client().strlen(key)) < 2_000, 500);
    expect(await redisErrors()).toBe(1);
    expect(sample(await scrape(app), 'pdp_redis_up')).toBe(1);
    // What replaced it is a decision another replica is served.
    const { app: other } = await replica({ REDIS_COMMAND_TIMEOUT_MS: '1000' });
    expect((await decide(other, body)).body).toMatchObject({ decision: 'permit', advice: [], cached: 'redis' });
  });

  describe('what the service writes', () => {
    let policies: Awaited<ReturnType<typeof tempDir>>;
    beforeAll(async () => {
      policies = await tempDir('pdp-size-');
      // {"note":"…","resource":"many"} is 29 characters more than the note.
      const note = 'x'.repeat(maxAdviceJsonLength - 29);
      const rule = (id: string, resource: string) => ({ id, effect: 'permit', actions: ['read'], advice: { note, resource } });
      await writeFiles(policies.path, {
        // One rule with advice as long as an entry takes: shared through Redis.
        'one.json': { id: 'one', resource: 'one', rules: [rule('P1', 'one')] },
        // Twenty of them apply together: each within the bound, their entry beyond MAX_ENTRY_BYTES.
        'many.json': { id: 'many', resource: 'many', rules: Array.from({ length: 20 }, (_, i) => rule(`P${i}`, 'many')) },
      });
    });
    afterAll(async () => {
      await policies.remove();
    });

    it('shares a verdict whose entry it can read back, and answers one it could not without sharing it', async () => {
      const observer = new CountingObserver();
      const { app, setup } = await replica({ REDIS_COMMAND_TIMEOUT_MS: '1000' }, { observer, policyDir: policies.path });
      const ask = (type: string) => ({ subject: { id: `u-${randomUUID()}` }, action: 'read', resource: { type, id: 'd-1' } });

      const one = ask('one');
      const { stored } = await storedFor(app, one);
      expect(stored.d.advice).toHaveLength(1);
      expect((await decide(app, one)).body).toMatchObject({ decision: 'permit', cached: 'redis', advice: stored.d.advice });

      for (const [type, advice] of [['many', 20]] as const) {
        const before = new Set(await client().keys(`${prefix}*`));
        const tooLarge = observer.written('too_large');
        const first = await decide(app, ask(type));
        expect(first.body, type).toMatchObject({ decision: 'permit' });
        expect(first.body['advice'], type).toHaveLength(advice);
        expect(observer.written('too_large') - tooLarge, type).toBe(1);
        await new Promise((r) => setTimeout(r, 50));
        expect((await client().keys(`${prefix}*`)).filter((k) => !before.has(k)), type).toEqual([]);
        expect(observer.count('redis:error'), type).toBe(0);
      }
      expect(JSON.stringify((await decide(app, ask('many'))).body).length).toBeGreaterThan(MAX_ENTRY_BYTES);
      expect(setup.redisState()).toBe('up');
    });
  });
});
