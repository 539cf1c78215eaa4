import { randomUUID } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CacheSetup } from '../src/cache/from-config.js';
import type { CacheSource } from '../src/cache/layer.js';
import { loadPolicyDir } from '../src/policy/load.js';
import { buildTestApp, defaultPolicyDir, postJson, readJson } from './helpers/app.js';
import { cacheFromEnv, CountingObserver, eventually, uniquePrefix } from './helpers/cache.js';
import { startWorkClock } from './helpers/work-clock.js';

type TestApp = Awaited<ReturnType<typeof buildTestApp>>;

interface Mode {
  readonly name: string;
  readonly env: () => Record<string, string>;
  /** Where the second identical request is answered from. */
  readonly repeat: CacheSource;
  readonly redis: boolean;
}

const modes: Mode[] = [
  { name: 'memory only', env: () => ({ CACHE_MEMORY_ENTRIES: '1000' }), repeat: 'memory', redis: false },
  { name: 'Redis only', env: () => ({ CACHE_MEMORY_ENTRIES: '0', REDIS_URL: inject('redisUrl') }), repeat: 'redis', redis: true },
  { name: 'memory and Redis', env: () => ({ CACHE_MEMORY_ENTRIES: '1000', REDIS_URL: inject('redisUrl') }), repeat: 'memory', redis: true },
];

/** Settings that keep a loaded test machine from tripping the 20 ms production timeout. */
const patient = { REDIS_COMMAND_TIMEOUT_MS: '1000' };

function accountant(id: string = randomUUID(), extra: Record<string, unknown> = {}) {
  return { id, properties: { roles: ['accountant'], scope: 'invoice.read invoice.write', region: 'EU', ...extra } };
}

function readInvoice(subject: ReturnType<typeof accountant>, region = 'EU') {
  return { subject, action: 'read', resource: { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region } } };
}

async function decide(app: TestApp['app'], body: unknown, query = ''): Promise<Record<string, unknown>> {
  const res = await postJson(app, `/decide${query}`, body);
  expect(res.status).toBe(200);
  return readJson(res);
}

const withoutIds = (body: Record<string, unknown>) => ({ ...body, decisionId: undefined, cached: undefined });

describe.each(modes)('decision cache through POST /decide: $name', (mode) => {
  let setup: CacheSetup;
  let test: TestApp;
  let nowMs = Date.now();
  const observer = new CountingObserver();
  const prefix = uniquePrefix();

  beforeAll(async () => {
    setup = await cacheFromEnv({ ...mode.env(), ...patient, CACHE_PREFIX: prefix }, observer);
    test = await buildTestApp({ cache: setup.cache, clock: () => new Date(nowMs), app: { redisState: setup.redisState } });
    if (mode.redis) await eventually('Redis to be up', () => setup.redisState() === 'up');
  });
  afterAll(async () => {
    await setup.close();
  });

  it('evaluates the first request and answers the same one again from the cache', async () => {
    const body = readInvoice(accountant());
    const first = await decide(test.app, body);
    expect(first).toMatchObject({ decision: 'permit', reasons: [{ rule: 'P2-finance-read-own-region' }] });
    expect(first).not.toHaveProperty('cached');
    const second = await decide(test.app, body);
    expect(second.cached).toBe(mode.repeat);
    expect(withoutIds(second)).toEqual(withoutIds(first));
    expect(second.decisionId).not.toBe(first.decisionId);
  });

  it('caches denies with their reasons and advice', async () => {
    const body = {
      subject: { id: randomUUID(), properties: { roles: ['finance_manager'], scope: 'invoice.write', region: 'EU', approval_limit: 5000 } },
      action: 'approve',
      resource: { type: 'invoice', properties: { region: 'EU', status: 'submitted', amount: 100, owner: 'someone' } },
      context: { mfa: false },
    };
    const first = await decide(test.app, body);
    expect(first).toMatchObject({ decision: 'deny', advice: [{ rule: 'D3-approve-requires-mfa', advice: { step_up: 'mfa' } }] });
    const second = await decide(test.app, body);
    expect(second.cached).toBe(mode.repeat);
    expect(withoutIds(second)).toEqual(withoutIds(first));
  });

  it('caches the deny for an action the rules name in another case, its reason intact', async () => {
    const body = { ...readInvoice(accountant()), action: 'Read' };
    const first = await decide(test.app, body);
    expect(first).toMatchObject({ decision: 'deny', reasons: [{ code: 'action_case_mismatch' }] });
    const second = await decide(test.app, body);
    expect(second.cached).toBe(mode.repeat);
    expect(withoutIds(second)).toEqual(withoutIds(first));
  });

  it('tells apart requests that differ anywhere, and not ones that differ only in key order', async () => {
    const id = randomUUID();
    await decide(test.app, readInvoice(accountant(id)));
    expect((await decide(test.app, readInvoice(accountant(id), 'US'))).decision).toBe('deny');
    expect(await decide(test.app, { ...readInvoice(accountant(id)), context: { ip: '10.0.0.1' } })).not.toHaveProperty('cached');
    const reordered = {
      resource: { properties: { region: 'EU', invoice_type: 'purchase' }, id: 'inv-1', type: 'invoice' },
      action: 'read',
      subject: { properties: { region: 'EU', scope: 'invoice.read invoice.write', roles: ['accountant'] }, id },
    };
    expect((await decide(test.app, reordered)).cached).toBe(mode.repeat);
    const stripped = { ...readInvoice(accountant(id)), subject: { id, properties: { region: 'EU', scope: 'invoice.read invoice.write', roles: ['auditor'] } } };
    expect(await decide(test.app, stripped)).toMatchObject({ decision: 'deny' });
  });

  it('tells apart long contexts that differ only at their end, and not ones in another key order', async () => {
    const body = readInvoice(accountant());
    const long = (tail: string) => ({ lines: Array.from({ length: 200 }, (_, i) => `line ${i}`), tail });
    await decide(test.app, { ...body, context: long('a') });
    expect(await decide(test.app, { ...body, context: long('b') })).not.toHaveProperty('cached');
    const { lines, tail } = long('b');
    expect((await decide(test.app, { ...body, context: { tail, lines } })).cached).toBe(mode.repeat);
  });

  it('never answers an explain request from the cache, nor caches one', async () => {
    const body = readInvoice(accountant());
    const explained = await decide(test.app, body, '?explain=true');
    expect(explained).not.toHaveProperty('cached');
    expect(explained.explain).toBeInstanceOf(Array);
    expect(await decide(test.app, body)).not.toHaveProperty('cached');
    expect((await decide(test.app, body)).cached).toBe(mode.repeat);
    const again = await decide(test.app, body, '?explain=true');
    expect(again).not.toHaveProperty('cached');
    expect(again.explain).toBeInstanceOf(Array);
  });

  it('does not cache a decision with a condition_error', async () => {
    const body = {
      subject: { id: randomUUID(), properties: { roles: ['finance_manager'], scope: 'invoice.write', region: 'EU' } },
      action: 'approve',
      resource: { type: 'invoice', properties: { region: 'EU', status: 'submitted', amount: 100, owner: 'someone' } },
      context: { mfa: true },
    };
    for (let i = 0; i < 3; i++) {
      const answer = await decide(test.app, body);
      expect(answer.decision).toBe('deny');
      expect(answer.reasons).toContainEqual(expect.objectContaining({ code: 'condition_error' }));
      expect(answer).not.toHaveProperty('cached');
    }
  });

  it('does not cache a deny for data beyond what conditions are costed for', async () => {
    const scope = Array.from({ length: 1001 }, (_, i) => `s${i}`).join(' ');
    const body = readInvoice({ id: randomUUID(), properties: { roles: ['accountant'], scope, region: 'EU' } });
    for (let i = 0; i < 2; i++) {
      const answer = await decide(test.app, body);
      expect(answer).toMatchObject({ decision: 'deny', reasons: [{ code: 'limit_exceeded' }] });
      expect(answer).not.toHaveProperty('cached');
    }
  });

  it("keeps a decision no longer than the subject's exp, and never one whose exp is passed or unreadable", async () => {
    const exp = Math.floor(nowMs / 1000) + 2;
    const body = readInvoice(accountant(randomUUID(), { exp }));
    expect(await decide(test.app, body)).not.toHaveProperty('cached');
    expect((await decide(test.app, body)).cached).toBe(mode.repeat);
    nowMs = exp * 1000 - 1;
    expect((await decide(test.app, body)).cached).toBe(mode.repeat);
    nowMs = exp * 1000;
    expect(await decide(test.app, body)).not.toHaveProperty('cached');
    expect(await decide(test.app, body)).not.toHaveProperty('cached');
    nowMs = Date.now();

    const unreadable = readInvoice(accountant(randomUUID(), { exp: 'tomorrow' }));
    await decide(test.app, unreadable);
    expect(await decide(test.app, unreadable)).not.toHaveProperty('cached');
  });

  it('never looks the cache up for a subject whose exp is passed or unreadable, nor joins an identical request in flight', async () => {
    const lookups = () => [...observer.counts.values()].reduce((sum, n) => sum + n, 0);
    const expired = readInvoice(accountant(randomUUID(), { exp: Math.floor(nowMs / 1000) - 1 }));
    const unreadable = readInvoice(accountant(randomUUID(), { exp: 'tomorrow' }));
    for (const body of [expired, unreadable]) {
      const before = lookups();
      const answers = await Promise.all([decide(test.app, body), decide(test.app, body)]);
      expect(answers.map((answer) => answer.decision)).toEqual(['permit', 'permit']);
      for (const answer of answers) expect(answer).not.toHaveProperty('cached');
      expect(lookups()).toBe(before);
    }
  });

  it("keeps a decision no longer than CACHE_TTL_SECONDS when the subject's exp is later", async () => {
    // The default CACHE_TTL_SECONDS, 30: an exp an hour away cannot lengthen it.
    const body = readInvoice(accountant(randomUUID(), { exp: Math.floor(nowMs / 1000) + 3600 }));
    expect(await decide(test.app, body)).not.toHaveProperty('cached');
    nowMs += 29_999;
    expect((await decide(test.app, body)).cached).toBe(mode.repeat);
    nowMs += 1;
    expect(await decide(test.app, body)).not.toHaveProperty('cached');
    nowMs = Date.now();
  });

  it('answers with the new policies as soon as they are swapped in, then caches under the new version', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pdp-policies-'));
    try {
      await cp(defaultPolicyDir, dir, { recursive: true });
      const file = join(dir, 'invoices.json');
      const source = JSON.parse(await readFile(file, 'utf8')) as { rules: { id: string }[] };
      source.rules = source.rules.filter((rule) => rule.id !== 'P2-finance-read-own-region');
      await writeFile(file, JSON.stringify(source));
      const stricter = await loadPolicyDir(dir);
      const original = test.policies.current.set;

      const body = readInvoice(accountant());
      await decide(test.app, body);
      const cached = await decide(test.app, body);
      expect(cached).toMatchObject({ decision: 'permit', cached: mode.repeat, policyVersion: original.version });

      test.policies.replace(stricter);
      try {
        const after = await decide(test.app, body);
        expect(after).toMatchObject({ decision: 'deny', policyVersion: stricter.version });
        expect(after).not.toHaveProperty('cached');
        expect(await decide(test.app, body)).toMatchObject({ decision: 'deny', cached: mode.repeat, policyVersion: stricter.version });
      } finally {
        test.policies.replace(original);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('never caches a decision that reads now, so it turns when the time passes and agrees with explain', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pdp-policies-'));
    try {
      await writeFile(join(dir, 'docs.json'), JSON.stringify({
        id: 'docs',
        resource: 'doc',
        rules: [
          { id: 'P-until', effect: 'permit', actions: ['read'], condition: 'timestamp(resource.properties.valid_until) > now' },
          { id: 'P-list', effect: 'permit', actions: ['list'], condition: '!has(resource.properties.now)' },
        ],
      }));
      await writeFile(join(dir, 'memos.json'), JSON.stringify({
        id: 'memos',
        resource: 'memo',
        rules: [{ id: 'P-any-until', effect: 'permit', actions: ['*'], condition: 'timestamp(resource.properties.valid_until) > now' }],
      }));
      const timed = await loadPolicyDir(dir);
      const original = test.policies.current.set;
      test.policies.replace(timed);
      try {
        const validUntil = new Date(nowMs + 3_000).toISOString();
        const body = { subject: { id: randomUUID() }, action: 'read', resource: { type: 'doc', id: 'd-1', properties: { valid_until: validUntil } } };
        for (let i = 0; i < 2; i++) {
          const answer = await decide(test.app, body);
          expect(answer).toMatchObject({ decision: 'permit', reasons: [{ rule: 'P-until' }] });
          expect(answer).not.toHaveProperty('cached');
        }
        // So is one that "*" rules decide, for an action no rule names, when one of them reads now.
        const share = { ...body, action: 'share', resource: { ...body.resource, type: 'memo' } };
        for (let i = 0; i < 2; i++) {
          const answer = await decide(test.app, share);
          expect(answer).toMatchObject({ decision: 'permit', reasons: [{ rule: 'P-any-until' }] });
          expect(answer).not.toHaveProperty('cached');
        }
        nowMs += 5_000;
        const later = await decide(test.app, body);
        expect(later).toMatchObject({ decision: 'deny', reasons: [{ code: 'no_applicable_rule' }] });
        expect(later).not.toHaveProperty('cached');
        expect(await decide(test.app, body, '?explain=true')).toMatchObject({ decision: 'deny' });

        // An action whose rules do not read the variable now (a member so named is no matter) is cached as before.
        const list = { ...body, action: 'list' };
        await decide(test.app, list);
        expect((await decide(test.app, list)).cached).toBe(mode.repeat);
      } finally {
        test.policies.replace(original);
        nowMs = Date.now();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('answers from the cache what it evaluated for a context and advice holding a member named __proto__, apart from another such context', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pdp-policies-'));
    try {
      // Written as JSON text: in a JavaScript literal `__proto__` would set the prototype.
      const rule = '{"id": "P-proto", "effect": "permit", "actions": ["read"], "condition": "context[\\"__proto__\\"].polluted == 1", "advice": {"__proto__": {"step_up": "mfa"}}}';
      await writeFile(join(dir, 'docs.json'), `{"id": "docs", "resource": "doc", "rules": [${rule}]}`);
      const original = test.policies.current.set;
      test.policies.replace(await loadPolicyDir(dir));
      try {
        const id = randomUUID();
        const body = (polluted: number) => `{"subject": {"id": "${id}"}, "action": "read", "resource": {"type": "doc", "id": "d-1"}, "context": {"__proto__": {"polluted": ${polluted}}}}`;
        const first = await decide(test.app, body(1));
        expect(JSON.stringify(first.advice)).toBe('[{"policy":"docs","rule":"P-proto","advice":{"__proto__":{"step_up":"mfa"}}}]');
        const second = await decide(test.app, body(1));
        expect(second.cached).toBe(mode.repeat);
        expect(JSON.stringify(withoutIds(second))).toBe(JSON.stringify(withoutIds(first)));
        const other = await decide(test.app, body(2));
        expect(other).toMatchObject({ decision: 'deny', reasons: [{ code: 'no_applicable_rule' }] });
        expect(other).not.toHaveProperty('cached');
        expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
      } finally {
        test.policies.replace(original);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports Redis in /readyz', async () => {
    const res = await test.app.request('/readyz');
    expect(res.status).toBe(200);
    expect(await readJson(res)).toMatchObject({ status: 'ready', redis: mode.redis ? 'up' : 'disabled' });
  });
});

describe('decision cache keys of a batch and of a search page', () => {
  // 250 KB of small members: 5 ms to serialise, so 0.5 s for 100 decisions serialising it each.
  const large = () => ({ lines: Array.from({ length: 1000 }, () => Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, i]))) });
  const subject = { type: 'user', ...accountant('alice') };
  const resource = { type: 'invoice', id: 'inv-0' };

  interface Shared {
    readonly name: string;
    /** Entity data knows the subject and the invoice, so each is enriched before it is keyed. */
    readonly known: boolean;
    /** The request of `count` decisions sharing the large part, and how many decisions its answer holds. */
    readonly request: (count: number, run: number) => { readonly path: string; readonly body: unknown; readonly answers: (body: Record<string, unknown>) => unknown[] };
  }

  const batch = (count: number, run: number, defaults: Record<string, unknown>) => ({
    path: '/access/v1/evaluations',
    body: { subject, resource, ...defaults, evaluations: Array.from({ length: count }, (_, i) => ({ action: { name: `act-${run}-${i}` } })) },
    answers: (body: Record<string, unknown>) => body['evaluations'] as unknown[],
  });
  // A page of vouchers (one) or of receipts (a hundred, none permitted, so every one is decided),
  // each run for another action, so no decision is found in the cache.
  const search = (count: number, run: number, subjectProperties: Record<string, unknown>) => ({
    path: '/access/v1/search/resource',
    body: { subject: { ...subject, properties: { ...subject.properties, ...subjectProperties } }, action: { name: `act-${run}` }, resource: { type: count === 1 ? 'voucher' : 'receipt' } },
    answers: (body: Record<string, unknown>) => (body['results'] as unknown[]).length === 0 ? Array.from({ length: count }) : [],
  });

  const cases: Shared[] = [
    { name: 'a context', known: false, request: (count, run) => batch(count, run, { context: large() }) },
    { name: "a subject's properties", known: false, request: (count, run) => batch(count, run, { subject: { ...subject, properties: { ...subject.properties, ...large() } } }) },
    { name: "a resource's properties", known: false, request: (count, run) => batch(count, run, { resource: { ...resource, properties: large() } }) },
    {
      name: 'a subject and a resource entity data knows',
      known: true,
      request: (count, run) => batch(count, run, { subject: { ...subject, properties: { ...subject.properties, ...large() } }, resource: { ...resource, properties: large() } }),
    },
    { name: 'the subject of a search page, known to entity data', known: true, request: (count, run) => search(count, run, large()) },
  ];

  it.each(cases)('serialises $name the decisions share once, not once per decision', async ({ known, request }) => {
    const dir = await mkdtemp(join(tmpdir(), 'pdp-shared-'));
    await cp(defaultPolicyDir, dir, { recursive: true });
    if (known) {
      await mkdir(join(dir, 'data'));
      const receipts = Array.from({ length: 100 }, (_, i) => ({ type: 'receipt', id: `rc-${i}` }));
      const entities = [{ type: 'user', id: 'alice', properties: { department: 'finance' } }, { type: 'invoice', id: 'inv-0', properties: { region: 'EU' } }, { type: 'voucher', id: 'v-0' }, ...receipts];
      await writeFile(join(dir, 'data', 'entities.json'), JSON.stringify({ entities }));
    }
    const setup = await cacheFromEnv({ CACHE_MEMORY_ENTRIES: '1000', CACHE_PREFIX: uniquePrefix() });
    const { app } = await buildTestApp({ cache: setup.cache, policyDir: dir });
    let run = 0;
    // The least of three runs: a busy machine only ever adds time.
    const work = async (count: number) => {
      let least = Infinity;
      for (let i = 0; i < 3; i++) {
        const { path, body, answers } = request(count, (run += 1));
        const elapsed = startWorkClock();
        const res = await postJson(app, path, body);
        expect(res.status).toBe(200);
        expect(answers(await readJson(res))).toHaveLength(count);
        least = Math.min(least, elapsed());
      }
      return least;
    };
    await work(1);
    const one = await work(1);
    const hundred = await work(100);
    expect(hundred).toBeLessThan(6 * one);
    await setup.close();
    await rm(dir, { recursive: true, force: true });
  });
});

describe('decision cache switched off', () => {
  it('has no cache at all without REDIS_URL and with CACHE_MEMORY_ENTRIES=0', async () => {
    const setup = await cacheFromEnv({ CACHE_MEMORY_ENTRIES: '0' });
    expect(setup.cache).toBeUndefined();
    const { app } = await buildTestApp({ cache: setup.cache, app: { redisState: setup.redisState } });
    const body = readInvoice(accountant());
    for (let i = 0; i < 3; i++) expect(await decide(app, body)).not.toHaveProperty('cached');
    expect(await readJson(await app.request('/readyz'))).toMatchObject({ redis: 'disabled' });
  });
});

describe('decision cache shared through Redis', () => {
  let redis: Redis;
  const setups: CacheSetup[] = [];
  beforeAll(() => {
    redis = new Redis(inject('redisUrl'));
  });
  afterAll(async () => {
    await Promise.all(setups.map((s) => s.close()));
    redis.disconnect();
  });

  async function replica(prefix: string, memoryEntries = '1000', policyDir?: string) {
    const setup = await cacheFromEnv({ CACHE_MEMORY_ENTRIES: memoryEntries, REDIS_URL: inject('redisUrl'), CACHE_PREFIX: prefix, ...patient });
    setups.push(setup);
    await eventually('Redis to be up', () => setup.redisState() === 'up');
    return (await buildTestApp({ cache: setup.cache, policyDir })).app;
  }

  it('lets a second replica reuse what the first decided, then keep it in its own memory', async () => {
    const prefix = uniquePrefix();
    const [a, b] = [await replica(prefix), await replica(prefix)];
    const body = readInvoice(accountant());
    expect(await decide(a, body)).not.toHaveProperty('cached');
    await eventually('the decision to reach Redis', async () => (await redis.keys(`${prefix}*`)).length === 1);
    expect((await decide(b, body)).cached).toBe('redis');
    expect((await decide(b, body)).cached).toBe('memory');
  });

  it("copies a decision from Redis into memory no longer than it lives there: the subject's exp", async () => {
    const prefix = uniquePrefix();
    let nowMs = Date.now();
    const clock = () => new Date(nowMs);
    const writer = await cacheFromEnv({ CACHE_MEMORY_ENTRIES: '0', REDIS_URL: inject('redisUrl'), CACHE_PREFIX: prefix, ...patient });
    const reader = await cacheFromEnv({ CACHE_MEMORY_ENTRIES: '1000', REDIS_URL: inject('redisUrl'), CACHE_PREFIX: prefix, ...patient });
    setups.push(writer, reader);
    await eventually('Redis to be up', () => writer.redisState() === 'up' && reader.redisState() === 'up');
    const [a, b] = [(await buildTestApp({ cache: writer.cache, clock })).app, (await buildTestApp({ cache: reader.cache, clock })).app];
    // Well within CACHE_TTL_SECONDS (30 s): the token's exp, not the TTL, ends the entry.
    const exp = Math.floor(nowMs / 1000) + 10;
    const body = readInvoice(accountant(randomUUID(), { exp }));
    await decide(a, body);
    await eventually('the decision to reach Redis', async () => (await redis.keys(`${prefix}*`)).length === 1);
    expect((await decide(b, body)).cached).toBe('redis');
    nowMs = exp * 1000 - 1;
    expect((await decide(b, body)).cached).toBe('memory');
    nowMs = exp * 1000;
    expect(await decide(b, body)).not.toHaveProperty('cached');
  });

  it('copies a decision from Redis into memory no longer than CACHE_TTL_SECONDS, though a replica whose clock runs ahead wrote it to live longer', async () => {
    const prefix = uniquePrefix();
    let nowMs = Date.now();
    const clock = () => new Date(nowMs);
    const writer = await cacheFromEnv({ CACHE_MEMORY_ENTRIES: '0', REDIS_URL: inject('redisUrl'), CACHE_PREFIX: prefix, CACHE_TTL_SECONDS: '30', ...patient });
    const reader = await cacheFromEnv({ CACHE_MEMORY_ENTRIES: '1000', REDIS_URL: inject('redisUrl'), CACHE_PREFIX: prefix, CACHE_TTL_SECONDS: '30', ...patient });
    setups.push(writer, reader);
    await eventually('Redis to be up', () => writer.redisState() === 'up' && reader.redisState() === 'up');
    const [a, b] = [(await buildTestApp({ cache: writer.cache, clock })).app, (await buildTestApp({ cache: reader.cache, clock })).app];
    const body = readInvoice(accountant());
    await decide(a, body);
    await eventually('the decision to reach Redis', async () => (await redis.keys(`${prefix}*`)).length === 1);
    const [key = ''] = await redis.keys(`${prefix}*`);
    // Written 900 ms ahead of this clock: within the skew a read allows, so it is served.
    const stored = JSON.parse((await redis.get(key)) ?? '') as Record<string, unknown>;
    await redis.set(key, JSON.stringify({ ...stored, e: nowMs + 30_900 }));
    expect((await decide(b, body)).cached).toBe('redis');
    await redis.del(key);
    nowMs += 29_999;
    expect((await decide(b, body)).cached).toBe('memory');
    nowMs += 1;
    expect(await decide(b, body)).not.toHaveProperty('cached');
  });

  it('keeps services with different CACHE_PREFIX apart', async () => {
    const [first, second] = [uniquePrefix(), uniquePrefix()];
    const [a, b, c] = [await replica(first, '0'), await replica(second, '0'), await replica(first, '0')];
    const body = readInvoice(accountant());
    await decide(a, body);
    await eventually('the decision to reach Redis', async () => (await redis.keys(`${first}*`)).length === 1);
    expect(await decide(b, body)).not.toHaveProperty('cached');
    expect((await decide(c, body)).cached).toBe('redis');
  });

  it("stores each decision under the prefix with a TTL capped by the subject's exp, and never the token or claims", async () => {
    const prefix = uniquePrefix();
    const app = await replica(prefix, '0');
    const exp = Math.floor(Date.now() / 1000) + 5;
    await decide(app, readInvoice(accountant('u-secret-holder', { exp, secret_claim: 'do-not-store' })));
    await eventually('the decision to reach Redis', async () => (await redis.keys(`${prefix}*`)).length === 1);
    const [key] = await redis.keys(`${prefix}*`);
    expect(key).toMatch(new RegExp(`^${prefix}[A-Za-z0-9_-]{43}$`));
    const ttl = await redis.pttl(key ?? '');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(5_000);
    const value = (await redis.get(key ?? '')) ?? '';
    expect(value).toContain('P2-finance-read-own-region');
    expect(value).not.toContain('do-not-store');
    expect(value).not.toContain('u-secret-holder');
  });

  it('never caches a deny for a name entity data holds in another spelling, whose reason quotes the name', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pdp-misnamed-'));
    try {
      await cp(defaultPolicyDir, dir, { recursive: true });
      await mkdir(join(dir, 'data'));
      await writeFile(join(dir, 'data', 'users.json'), JSON.stringify({ entities: [{ type: 'user', id: 'u-alice', aliases: ['alice@example.com'] }] }));
      const prefix = uniquePrefix();
      const app = await replica(prefix, '1000', dir);
      const misnamed = readInvoice({ id: 'Alice@Example.com', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } });
      for (let i = 0; i < 2; i++) {
        const answer = await decide(app, misnamed);
        expect(answer).toMatchObject({ decision: 'deny', reasons: [{ code: 'entity_case_mismatch', detail: expect.stringContaining('"Alice@Example.com"') }] });
        expect(answer).not.toHaveProperty('cached');
      }
      // A decision written after them: once it is in Redis, so would they be.
      await decide(app, readInvoice(accountant()));
      await eventually('the decision to reach Redis', async () => (await redis.keys(`${prefix}*`)).length > 0);
      const values = await Promise.all((await redis.keys(`${prefix}*`)).map(async (key) => (await redis.get(key)) ?? ''));
      expect(values).toHaveLength(1);
      for (const value of values) expect(value.toLowerCase()).not.toContain('alice@example.com');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
