import { randomUUID } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CacheSetup } from '../src/cache/from-config.js';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { cacheFromEnv, CountingObserver, eventually, uniquePrefix } from './helpers/cache.js';
import { RedisServer } from './helpers/redis-server.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

/** Requests whose right answers are known, so a wrong one cannot hide. */
function requests() {
  const subject = { id: `u-${randomUUID()}`, properties: { roles: ['accountant'], scope: 'invoice.read invoice.write', region: 'EU' } };
  const invoice = (region: string) => ({ type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region, status: 'draft' } });
  return [
    { body: { subject, action: 'read', resource: invoice('EU') }, decision: 'permit' },
    { body: { subject, action: 'read', resource: invoice('US') }, decision: 'deny' },
    { body: { subject, action: 'update', resource: invoice('EU') }, decision: 'permit' },
    { body: { subject, action: 'delete', resource: invoice('EU') }, decision: 'deny' },
  ] as const;
}

async function decide(app: App, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await postJson(app, '/decide', body);
  return { status: res.status, body: await readJson(res) };
}

async function readyRedis(app: App): Promise<unknown> {
  const res = await app.request('/readyz');
  expect(res.status).toBe(200);
  return (await readJson(res)).redis;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('decision cache when Redis fails', () => {
  let server: RedisServer;
  let setup: CacheSetup | undefined;
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterEach(async () => {
    await setup?.close();
    setup = undefined;
    await server.kill('SIGCONT');
  });
  afterAll(async () => {
    await server.stop();
  });

  async function appOn(env: Record<string, string>, observer: CountingObserver): Promise<App> {
    setup = await cacheFromEnv({ CACHE_MEMORY_ENTRIES: '0', REDIS_URL: server.url, CACHE_PREFIX: uniquePrefix(), ...env }, observer);
    const current = setup;
    await eventually('Redis to be up', () => current.redisState() === 'up');
    return (await buildTestApp({ cache: setup.cache, app: { redisState: setup.redisState } })).app;
  }

  it('answers every request correctly while Redis is killed and restarted, then uses Redis again', async () => {
    const observer = new CountingObserver();
    const app = await appOn({ REDIS_BACKOFF_MS: '100', REDIS_COMMAND_TIMEOUT_MS: '200' }, observer);
    const cases = requests();
    for (const c of cases) await decide(app, c.body);
    await eventually('the decisions to be served from Redis', async () => (await decide(app, cases[0].body)).body.cached === 'redis');

    let running = true;
    const failures: string[] = [];
    let answered = 0;
    const load = (async () => {
      while (running) {
        const results = await Promise.all(cases.map(async (c) => ({ c, r: await decide(app, c.body) })));
        for (const { c, r } of results) {
          answered++;
          if (r.status !== 200) failures.push(`status ${r.status}`);
          else if (r.body.decision !== c.decision) failures.push(`${c.body.action}: ${String(r.body.decision)} instead of ${c.decision}`);
        }
        await sleep(2);
      }
    })();

    await sleep(100);
    await server.kill('SIGKILL');
    await eventually('Redis to be reported down', async () => (await readyRedis(app)) === 'down');
    const answeredWhileDown = answered;
    await sleep(300);
    expect(answered).toBeGreaterThan(answeredWhileDown);
    await server.restart();
    await eventually('Redis to be reported up', async () => (await readyRedis(app)) === 'up', 10_000);
    await eventually('a decision served from Redis again', async () => (await decide(app, cases[2].body)).body.cached === 'redis', 10_000);
    running = false;
    await load;

    expect(failures).toEqual([]);
    expect(answered).toBeGreaterThan(20);
    const changes = observer.upChanges;
    const up = changes.indexOf(true);
    const down = changes.indexOf(false, up);
    expect(up).toBeGreaterThanOrEqual(0);
    expect(down).toBeGreaterThan(up);
    expect(changes.indexOf(true, down)).toBeGreaterThan(down);
  });

  it('bounds the wait on a frozen Redis by the command timeout, then stops asking it until it answers again', async () => {
    const observer = new CountingObserver();
    const app = await appOn({ REDIS_BACKOFF_MS: '2000', REDIS_COMMAND_TIMEOUT_MS: '50' }, observer);
    const [permit] = requests();
    await decide(app, permit.body);
    await eventually('the decision to be served from Redis', async () => (await decide(app, permit.body)).body.cached === 'redis');

    await server.kill('SIGSTOP');
    const errorsBefore = observer.count('redis:error');
    const latencies: number[] = [];
    for (let i = 0; i < 30; i++) {
      const started = performance.now();
      const answer = await decide(app, permit.body);
      latencies.push(performance.now() - started);
      expect(answer.status).toBe(200);
      expect(answer.body.decision).toBe('permit');
      expect(answer.body).not.toHaveProperty('cached');
    }
    // One lookup waits out the timeout and opens the breaker; the others do not touch Redis.
    expect(observer.count('redis:error') - errorsBefore).toBe(1);
    expect(Math.max(...latencies)).toBeLessThan(1_000);
    expect(await readyRedis(app)).toBe('down');

    await server.kill('SIGCONT');
    await eventually('a decision served from Redis again', async () => (await decide(app, permit.body)).body.cached === 'redis', 10_000);
    expect(await readyRedis(app)).toBe('up');
  });

  it('takes Redis back once it answers again after staying frozen through several probes', async () => {
    const app = await appOn({ REDIS_BACKOFF_MS: '100', REDIS_COMMAND_TIMEOUT_MS: '50' }, new CountingObserver());
    const [permit] = requests();
    await decide(app, permit.body);
    await eventually('the decision to be served from Redis', async () => (await decide(app, permit.body)).body.cached === 'redis');

    await server.kill('SIGSTOP');
    expect((await decide(app, permit.body)).body.decision).toBe('permit');
    expect(await readyRedis(app)).toBe('down');
    // The first probe goes unanswered and its connection is being replaced when the next falls due.
    await sleep(1_000);
    await server.kill('SIGCONT');
    await eventually('Redis to be up again', async () => (await readyRedis(app)) === 'up', 5_000);
    await eventually('a decision served from Redis again', async () => (await decide(app, permit.body)).body.cached === 'redis');
  });
});

describe('decision cache reading bad values from Redis', () => {
  let redis: Redis;
  let setup: CacheSetup;
  let app: App;
  const prefix = uniquePrefix();
  const observer = new CountingObserver();
  const [permit, deny] = requests();

  beforeAll(async () => {
    redis = new Redis(inject('redisUrl'));
    setup = await cacheFromEnv({ CACHE_MEMORY_ENTRIES: '0', REDIS_URL: inject('redisUrl'), CACHE_PREFIX: prefix, REDIS_COMMAND_TIMEOUT_MS: '1000' }, observer);
    await eventually('Redis to be up', () => setup.redisState() === 'up');
    app = (await buildTestApp({ cache: setup.cache })).app;
  });
  afterAll(async () => {
    await setup.close();
    redis.disconnect();
  });

  /** The Redis key a request is cached under, found as the one key it adds. */
  async function keyOf(body: unknown): Promise<string> {
    const before = new Set(await redis.keys(`${prefix}*`));
    await decide(app, body);
    let added: string | undefined;
    await eventually('the decision to reach Redis', async () => {
      added = (await redis.keys(`${prefix}*`)).find((k) => !before.has(k));
      return added !== undefined;
    });
    return added ?? '';
  }

  it('ignores whatever is not a valid entry for that very key, answers correctly and repairs the entry', async () => {
    const permitKey = await keyOf(permit.body);
    const denyKey = await keyOf(deny.body);
    const permitValue = (await redis.get(permitKey)) ?? '';
    const stored = JSON.parse(permitValue) as { k: string; e: number; d: Record<string, unknown> };
    // Within CACHE_TTL_SECONDS (30 s by default): a later expiry is refused for that alone, and
    // would hide whether the case itself is.
    const far = Date.now() + 10_000;

    const garbage: [string, string, () => Promise<unknown>][] = [
      ['not JSON', denyKey, () => redis.set(denyKey, '{"decision":"perm')],
      ['JSON of another shape', denyKey, () => redis.set(denyKey, JSON.stringify({ decision: 'permit', reasons: [], advice: [] }))],
      ["another key's permit", denyKey, () => redis.set(denyKey, permitValue)],
      ['a permit without a permitting rule', denyKey, () =>
        redis.set(denyKey, JSON.stringify({ k: denyKey, e: far, d: { decision: 'permit', reasons: [{ code: 'no_applicable_rule', detail: 'x' }], advice: [] } }))],
      ['a permit naming a deny rule', denyKey, () =>
        redis.set(denyKey, JSON.stringify({ k: denyKey, e: far, d: { decision: 'permit', reasons: [{ policy: 'invoices', rule: 'P1-admin-scope', effect: 'permit' }, { policy: 'invoices', rule: 'D2-paid-is-immutable', effect: 'deny' }], advice: [] } }))],
      ['an uncacheable reason', denyKey, () =>
        redis.set(denyKey, JSON.stringify({ k: denyKey, e: far, d: { decision: 'permit', reasons: [{ policy: 'invoices', rule: 'P1-admin-scope', effect: 'permit' }, { code: 'condition_error', detail: 'x' }], advice: [] } }))],
      ['extra fields', permitKey, () => redis.set(permitKey, JSON.stringify({ ...stored, d: { ...stored.d, decision: 'permit', injected: true } }))],
      // Within the size bound, but nested too deep for JSON.stringify, which the advice bound uses.
      ['advice nested 30,000 levels deep', denyKey, () =>
        redis.set(denyKey, JSON.stringify({ k: denyKey, e: far, d: { decision: 'deny', reasons: [{ code: 'no_applicable_rule', detail: 'x' }], advice: [{ policy: 'invoices', rule: 'x', advice: { a: 0 } }] } })
          .replace('{"a":0}', `{"a":${'['.repeat(30_000)}${']'.repeat(30_000)}}`))],
      ['a list instead of a string', denyKey, async () => {
        await redis.del(denyKey);
        await redis.lpush(denyKey, 'permit');
      }],
    ];
    for (const [what, key, write] of garbage) {
      await write();
      const errorsBefore = observer.count('redis:error');
      const c = key === denyKey ? deny : permit;
      const answer = await decide(app, c.body);
      expect(answer.status, what).toBe(200);
      expect(answer.body.decision, what).toBe(c.decision);
      expect(answer.body, what).not.toHaveProperty('cached');
      expect(observer.count('redis:error') - errorsBefore, what).toBe(1);
      // One key's problem: Redis stays in use for every other key.
      expect(setup.redisState(), what).toBe('up');
      await eventually(`the entry to be repaired after ${what}`, async () => (await decide(app, c.body)).body.cached === 'redis');
    }
    expect(setup.redisState()).toBe('up');
  });

  it('treats a well-formed entry past its expiry as a miss', async () => {
    const c = requests()[0];
    const key = await keyOf(c.body);
    const stored = JSON.parse((await redis.get(key)) ?? '') as { e: number };
    await redis.set(key, JSON.stringify({ ...stored, e: Date.now() - 1 }));
    const missesBefore = observer.count('redis:miss');
    const answer = await decide(app, c.body);
    expect(answer.body).not.toHaveProperty('cached');
    expect(observer.count('redis:miss') - missesBefore).toBe(1);
  });
});

/**
 * A TCP relay to `port` whose connections can be silenced: what either side sends is then
 * dropped, and neither is told, as when a firewall or NAT on the way forgets a connection.
 * Connections made afterwards are relayed. Redis' replies pass through `reply` on the way.
 */
async function relay(port: number, reply: (chunk: Buffer) => Buffer = (chunk) => chunk): Promise<{ url: string; silence(): void; close(): Promise<void> }> {
  const links: { silent: boolean; sockets: Socket[] }[] = [];
  const server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    const link = { silent: false, sockets: [client, upstream] };
    links.push(link);
    client.on('data', (chunk) => link.silent || upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => link.silent || client.write(reply(chunk)));
    for (const [socket, other] of [[client, upstream], [upstream, client]] as const) {
      socket.on('error', () => other.destroy());
      socket.on('close', () => other.destroy());
    }
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  return {
    url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
    silence: () => links.forEach((link) => (link.silent = true)),
    close: () => {
      for (const link of links) link.sockets.forEach((socket) => socket.destroy());
      return new Promise((closed) => server.close(() => closed()));
    },
  };
}

describe('a connection to Redis the network drops without a word', () => {
  it('is replaced once a probe goes unanswered, and Redis is used again', async () => {
    const server = await RedisServer.start();
    const path = await relay(server.port);
    const setup = await cacheFromEnv({ CACHE_MEMORY_ENTRIES: '0', REDIS_URL: path.url, CACHE_PREFIX: uniquePrefix(), REDIS_COMMAND_TIMEOUT_MS: '50', REDIS_BACKOFF_MS: '100' });
    try {
      await eventually('Redis to be up', () => setup.redisState() === 'up');
      const { app } = await buildTestApp({ cache: setup.cache, app: { redisState: setup.redisState } });
      const [permit] = requests();
      await decide(app, permit.body);
      await eventually('the decision to be served from Redis', async () => (await decide(app, permit.body)).body.cached === 'redis');

      path.silence();
      const answer = await decide(app, permit.body);
      expect(answer.body.decision).toBe('permit');
      expect(answer.body).not.toHaveProperty('cached');
      expect(await readyRedis(app)).toBe('down');
      // TCP itself would notice the connection is gone only after many minutes of retransmissions.
      await eventually('Redis to be up again over a new connection', async () => (await readyRedis(app)) === 'up', 5_000);
      await eventually('a decision served from Redis again', async () => (await decide(app, permit.body)).body.cached === 'redis');
    } finally {
      await setup.close();
      await path.close();
      await server.stop();
    }
  });
});

/**
 * The relay's transform that turns every empty string Redis answers into `reply`: the only one
 * the service is sent is GETRANGE's for a key that holds nothing.
 */
const emptyAnsweredAs = (reply: string) => (chunk: Buffer) => Buffer.from(chunk.toString('latin1').replaceAll('$0\r\n\r\n', reply), 'latin1');

/** An app whose decision cache is the test Redis only, reached through a relay passing its replies through `reply`. */
async function behindRelay(reply: (chunk: Buffer) => Buffer, use: (app: App, setup: CacheSetup, observer: CountingObserver) => Promise<void>): Promise<void> {
  const path = await relay(Number(new URL(inject('redisUrl')).port), reply);
  const observer = new CountingObserver();
  const setup = await cacheFromEnv({ CACHE_MEMORY_ENTRIES: '0', REDIS_URL: path.url, CACHE_PREFIX: uniquePrefix(), REDIS_COMMAND_TIMEOUT_MS: '1000' }, observer);
  try {
    await eventually('Redis to be up', () => setup.redisState() === 'up');
    const { app } = await buildTestApp({ cache: setup.cache, app: { redisState: setup.redisState } });
    await use(app, setup, observer);
  } finally {
    await setup.close();
    await path.close();
  }
}

describe('a Redis that answers GETRANGE of a missing key with nil', () => {
  // Redis answers an empty string today; redis/redis#11378 proposes nil, as GET answers.
  it('takes nil for a miss, looked up alone or with others, answers as usual and then serves from Redis', async () => {
    await behindRelay(emptyAnsweredAs('$-1\r\n'), async (app, setup, observer) => {
      for (const c of requests()) {
        const first = await decide(app, c.body);
        expect(first.status).toBe(200);
        expect(first.body.decision).toBe(c.decision);
        expect(first.body).not.toHaveProperty('cached');
        await eventually('the decision to be served from Redis', async () => (await decide(app, c.body)).body.cached === 'redis');
      }
      // A search page looks its candidates up together.
      const [permit] = requests();
      const search = await postJson(app, '/access/v1/search/action', { subject: { type: 'user', ...permit.body.subject }, resource: permit.body.resource });
      expect(search.status).toBe(200);
      expect((await readJson(search)).results).toEqual(expect.arrayContaining([{ name: 'read' }, { name: 'update' }]));
      expect(observer.count('redis:error')).toBe(0);
      expect(setup.redisState()).toBe('up');
    });
  });
});

describe('a server speaking the Redis protocol that answers GETRANGE with an integer', () => {
  // No Redis does; a proxy or an imitation of Redis might.
  it('counts each such answer a bad entry and decides, looked up alone or with others: never a 500', async () => {
    await behindRelay(emptyAnsweredAs(':0\r\n'), async (app, _setup, observer) => {
      for (const c of requests()) {
        const answer = await decide(app, c.body);
        expect(answer.status).toBe(200);
        expect(answer.body.decision).toBe(c.decision);
      }
      const [permit] = requests();
      const search = await postJson(app, '/access/v1/search/action', { subject: { type: 'user', ...permit.body.subject }, resource: { ...permit.body.resource, id: 'inv-2' } });
      expect(search.status).toBe(200);
      expect(observer.count('redis:error')).toBeGreaterThanOrEqual(requests().length);
    });
  });
});
