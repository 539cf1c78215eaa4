import { beforeAll, describe, expect, it } from 'vitest';
import { DecisionCache } from '../src/cache/decision-cache.js';
import { cacheFromConfig } from '../src/cache/from-config.js';
import type { CacheEntry, CacheLayer } from '../src/cache/layer.js';
import { loadConfig } from '../src/config.js';
import { policySetCandidates } from '../src/decision/candidates.js';
import { SearchService } from '../src/decision/search.js';
import { DecisionService, type PinnedDecisions } from '../src/decision/service.js';
import { createApp } from '../src/http/app.js';
import { loadPolicyDir } from '../src/policy/load.js';
import { PolicyStore } from '../src/policy/store.js';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { certificationDir } from './helpers/authzen.js';
import { eventually } from './helpers/cache.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

const alice = { type: 'user', id: 'alice' };
const record = (id: string, properties?: Record<string, unknown>) => ({ type: 'record', id, ...(properties && { properties }) });

describe('POST /access/v1/evaluations', () => {
  let app: App;
  beforeAll(async () => {
    ({ app } = await buildTestApp({ policyDir: certificationDir }));
  });

  const batch = async (body: unknown) => {
    const res = await postJson(app, '/access/v1/evaluations', body);
    expect(res.status).toBe(200);
    return readJson(res);
  };

  it('answers items exactly {decision}, in request order, without a top-level decision', async () => {
    const body = await batch({
      subject: { type: 'user', id: 'bob' },
      resource: record('record-1'),
      evaluations: [{ action: { name: 'read' } }, { action: { name: 'write' } }, { action: { name: 'read' } }],
    });
    expect(JSON.stringify(body)).toBe('{"evaluations":[{"decision":true},{"decision":false},{"decision":true}]}');
  });

  it('uses top-level values as defaults and lets an item key replace its default whole', async () => {
    // The item's resource carries no status: the default's properties do not leak into it,
    // and record-9 is unknown, so "write" (needing a status) is denied.
    const body = await batch({
      subject: alice,
      action: { name: 'write' },
      resource: record('record-1', { status: 'active' }),
      evaluations: [{}, { resource: record('record-9') }, { resource: record('record-9', { status: 'active' }) }],
    });
    expect(body.evaluations).toEqual([{ decision: true }, { decision: false }, { decision: true }]);
  });

  it('lets an item subject replace the default subject', async () => {
    // alice may write record-1 while it is active, bob may not: the item asks for bob.
    const body = await batch({
      subject: alice,
      action: { name: 'write' },
      resource: record('record-1', { status: 'active' }),
      evaluations: [{}, { subject: { type: 'user', id: 'bob' } }],
    });
    expect(body.evaluations).toEqual([{ decision: true }, { decision: false }]);
  });

  it('takes every key from the item when there are no defaults, context included', async () => {
    const body = await batch({
      context: { ip: '10.0.0.1' },
      evaluations: [
        { subject: alice, action: { name: 'read' }, resource: record('record-1') },
        { subject: { type: 'user', id: 'bob' }, action: { name: 'write' }, resource: record('record-1'), context: { source: 'item' } },
      ],
    });
    expect(body.evaluations).toEqual([{ decision: true }, { decision: false }]);
  });

  it('deny_on_first_deny stops after the first deny, answering up to it', async () => {
    const body = await batch({
      subject: alice,
      options: { evaluations_semantic: 'deny_on_first_deny' },
      evaluations: [
        { action: { name: 'read' }, resource: record('record-1') },
        { action: { name: 'write' }, resource: record('record-2') },
        { action: { name: 'read' }, resource: record('record-2') },
      ],
    });
    expect(body.evaluations).toEqual([{ decision: true }, { decision: false }]);
  });

  it('permit_on_first_permit stops after the first permit', async () => {
    const body = await batch({
      subject: alice,
      options: { evaluations_semantic: 'permit_on_first_permit' },
      evaluations: [
        { action: { name: 'write' }, resource: record('record-2') },
        { action: { name: 'read' }, resource: record('record-1') },
        { action: { name: 'read' }, resource: record('record-2') },
      ],
    });
    expect(body.evaluations).toEqual([{ decision: false }, { decision: true }]);
  });

  it.each([
    ['deny_on_first_deny', [{ action: { name: 'read' }, resource: record('record-1') }, { action: { name: 'write' }, resource: record('record-2') }], [true, false]],
    ['permit_on_first_permit', [{ action: { name: 'write' }, resource: record('record-2') }, { action: { name: 'read' }, resource: record('record-1') }], [false, true]],
  ] as const)('%s answers no item after the deciding one, even one the decision cache answers at once', async (semantic, deciding, expected) => {
    const cache = await cacheFromConfig(loadConfig({ CACHE_MEMORY_ENTRIES: '100' }));
    try {
      const { app: cached } = await buildTestApp({ policyDir: certificationDir, cache: cache.cache });
      // Cached before the batch: answered from memory without waiting for its turn.
      const later = { subject: alice, action: { name: 'read' }, resource: record('record-1') };
      expect((await readJson(await postJson(cached, '/access/v1/evaluation', later))).decision).toBe(true);
      const res = await postJson(cached, '/access/v1/evaluations', {
        subject: alice,
        options: { evaluations_semantic: semantic },
        evaluations: [...deciding, { action: later.action, resource: later.resource }, { action: later.action, resource: later.resource }],
      });
      expect((await readJson(res)).evaluations).toEqual(expected.map((decision) => ({ decision })));
    } finally {
      await cache.close();
    }
  });

  it('execute_all answers every item even after a deny', async () => {
    const body = await batch({
      subject: alice,
      action: { name: 'write' },
      options: { evaluations_semantic: 'execute_all' },
      evaluations: [{ resource: record('record-2') }, { resource: record('record-1') }],
    });
    expect(body.evaluations).toEqual([{ decision: false }, { decision: true }]);
  });

  it('answers an invalid item {decision:false} and still decides the others', async () => {
    const body = await batch({
      subject: alice,
      action: { name: 'read' },
      evaluations: [{ resource: record('record-1') }, {}, 'not an object', { resource: { type: 'record' } }],
    });
    expect(JSON.stringify(body.evaluations)).toBe('[{"decision":true},{"decision":false},{"decision":false},{"decision":false}]');
  });

  it('an invalid item counts as a deny for deny_on_first_deny', async () => {
    const body = await batch({
      subject: alice,
      action: { name: 'read' },
      options: { evaluations_semantic: 'deny_on_first_deny' },
      evaluations: [{}, { resource: record('record-1') }],
    });
    expect(body.evaluations).toEqual([{ decision: false }]);
  });

  it('with include_reasons, items carry a context; an invalid one says where it is wrong', async () => {
    const body = await batch({
      subject: alice,
      action: { name: 'read' },
      options: { include_reasons: true },
      evaluations: [{ resource: record('record-1') }, {}, { resource: { type: 'record', id: 7 } }],
    });
    const [ok, missing, mistyped] = body.evaluations as Record<string, unknown>[];
    expect(ok).toMatchObject({ decision: true, context: { decision_id: expect.any(String), reasons: [expect.objectContaining({ rule: 'read-known-users' })] } });
    expect(missing).toMatchObject({ decision: false, context: { error: { status: 400, errors: [{ path: '$.evaluations[1].resource' }] } } });
    expect(mistyped).toMatchObject({ decision: false, context: { error: { status: 400, errors: [{ path: '$.evaluations[2].resource.id' }] } } });
  });

  it('names every fault of an invalid item at once: a mistyped key and one given nowhere, as a single evaluation does', async () => {
    const body = await batch({
      subject: alice,
      options: { include_reasons: true },
      evaluations: [{ resource: { type: 'record', id: 7 } }, { action: null, resource: record('record-1') }],
    });
    const [both, mistyped] = body.evaluations as { context: { error: { errors: { path: string; message: string }[] } } }[];
    expect(both?.context.error.errors.map((e) => e.path).sort()).toEqual(['$.evaluations[0].action', '$.evaluations[0].resource.id']);
    // The hint is for a key given nowhere, not for one the item gives wrong.
    const hinted = (errors: { path: string; message: string }[] | undefined, path: string) => errors?.find((e) => e.path === path)?.message.includes('top-level default');
    expect(hinted(both?.context.error.errors, '$.evaluations[0].action')).toBe(true);
    expect(hinted(both?.context.error.errors, '$.evaluations[0].resource.id')).toBe(false);
    expect(mistyped?.context.error.errors.map((e) => e.path)).toEqual(['$.evaluations[1].action']);
    expect(hinted(mistyped?.context.error.errors, '$.evaluations[1].action')).toBe(false);
    const single = await postJson(app, '/access/v1/evaluation', { subject: alice, resource: { type: 'record', id: 7 } });
    expect(((await readJson(single)).errors as { path: string }[]).map((e) => e.path).sort()).toEqual(['$.action', '$.resource.id']);
  });

  it('with options.explain, items carry the trace', async () => {
    const body = await batch({
      subject: alice,
      action: { name: 'read' },
      options: { explain: true },
      evaluations: [{ resource: record('record-1') }],
    });
    expect(body.evaluations).toEqual([
      expect.objectContaining({ decision: true, context: expect.objectContaining({ explain: expect.objectContaining({ cached: false }) }) }),
    ]);
  });

  it('without evaluations, or with an empty array, answers one decision', async () => {
    const single = { subject: alice, action: { name: 'read' }, resource: record('record-1') };
    for (const body of [single, { ...single, evaluations: [] }]) {
      const answer = await batch(body);
      expect(answer.decision).toBe(true);
      expect(answer).not.toHaveProperty('evaluations');
    }
  });

  it('without evaluations, a missing key is a 400 like a single evaluation', async () => {
    const res = await postJson(app, '/access/v1/evaluations', { subject: alice, action: { name: 'read' } });
    expect(res.status).toBe(400);
    expect(await readJson(res)).toMatchObject({ errors: [{ path: '$.resource' }] });
  });

  it('without evaluations, names every fault at once, as a single evaluation does', async () => {
    const body = { subject: { type: 'user' }, action: { name: 'read' } };
    for (const path of ['/access/v1/evaluations', '/access/v1/evaluation']) {
      for (const sent of [body, { ...body, evaluations: [] }]) {
        const res = await postJson(app, path, sent);
        expect(res.status, path).toBe(400);
        expect(((await readJson(res)).errors as { path: string }[]).map((e) => e.path).sort(), path).toEqual(['$.resource', '$.subject.id']);
      }
    }
  });

  it('without evaluations, words a missing key as a single evaluation does, not as zod\'s "nonoptional"', async () => {
    const body = { subject: alice };
    const single = await readJson(await postJson(app, '/access/v1/evaluation', body));
    for (const sent of [body, { ...body, evaluations: [] }]) {
      const answer = await readJson(await postJson(app, '/access/v1/evaluations', sent));
      expect(answer.errors).toEqual(single.errors);
      expect(answer.detail).toBe(single.detail);
    }
  });

  it('rejects more than 100 items with a 400 at $.evaluations', async () => {
    const items = Array.from({ length: 101 }, () => ({ resource: record('record-1') }));
    const res = await postJson(app, '/access/v1/evaluations', { subject: alice, action: { name: 'read' }, evaluations: items });
    expect(res.status).toBe(400);
    expect(await readJson(res)).toMatchObject({ errors: [{ path: '$.evaluations' }] });
    const ok = await postJson(app, '/access/v1/evaluations', { subject: alice, action: { name: 'read' }, evaluations: items.slice(1) });
    expect(((await readJson(ok)).evaluations as unknown[]).length).toBe(100);
  });

  it('rejects an unknown semantic, a malformed default and a non-array evaluations with paths', async () => {
    const cases: [unknown, string][] = [
      [{ subject: alice, options: { evaluations_semantic: 'first' }, evaluations: [{}] }, '$.options.evaluations_semantic'],
      [{ subject: { type: 'user' }, evaluations: [{}] }, '$.subject.id'],
      [{ subject: alice, evaluations: {} }, '$.evaluations'],
    ];
    for (const [body, path] of cases) {
      const res = await postJson(app, '/access/v1/evaluations', body);
      expect(res.status).toBe(400);
      expect((await readJson(res)).errors).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
    }
  });
});

/** A batch item by what it asks of alice, `read record-1`, as WatchedDecisions names it. */
const asking = (asked: string) => {
  const [name = '', id = ''] = asked.split(' ');
  return { action: { name }, resource: record(id) };
};

/**
 * The decision service, telling which batch items it started and which it decided (evaluated,
 * or answered from the cache), each by what it asks; a started item it did not decide was given
 * up. It gives the request up (as its deadline or a client gone does) as the item `giveUpAt`
 * names starts.
 */
class WatchedDecisions extends DecisionService {
  readonly started: string[] = [];
  readonly decided: string[] = [];
  giveUpAt: string | undefined;

  override pinned(): PinnedDecisions {
    const pinned = super.pinned();
    return {
      ...pinned,
      decideUnrecorded: async (request, turn) => {
        const asked = `${request.action.name} ${request.resource.id ?? ''}`;
        this.started.push(asked);
        if (asked === this.giveUpAt && request.meta !== undefined) request.meta.abandoned = true;
        const decision = await pinned.decideUnrecorded(request, turn);
        this.decided.push(asked);
        return decision;
      },
    };
  }
}

async function watchedApp(cache?: DecisionCache) {
  const policies = new PolicyStore(await loadPolicyDir(certificationDir));
  const decisions = new WatchedDecisions({ policies, tokens: undefined, cache });
  const app = createApp({ decisions, policies, search: new SearchService({ decisions, candidates: policySetCandidates(policies) }) });
  return { app, decisions };
}

/**
 * A cache layer whose lookups answer when the test lets them (`answer`, by the order they were
 * asked in, from 0), as the lookups of a batch in a Redis far away come back in any order.
 */
class HeldLayer implements CacheLayer {
  readonly name = 'memory';
  readonly #entries = new Map<string, CacheEntry>();
  readonly #waiting: (() => void)[] = [];
  #onAsked: (() => void) | undefined;

  get(key: string): Promise<CacheEntry | undefined> {
    return new Promise((found) => {
      this.#waiting.push(() => found(this.#entries.get(key)));
      this.#onAsked?.();
    });
  }

  getMany(keys: readonly string[]): Promise<(CacheEntry | undefined)[]> {
    return Promise.all(keys.map((key) => this.get(key)));
  }

  set(key: string, entry: CacheEntry): void {
    this.#entries.set(key, entry);
  }

  /** Resolves once `count` lookups have been asked. */
  async asked(count: number): Promise<void> {
    while (this.#waiting.length < count) await new Promise<void>((asked) => (this.#onAsked = asked));
  }

  answer(...lookups: number[]): void {
    for (const lookup of lookups) this.#waiting[lookup]?.();
  }
}

describe('the items of a batch that are decided', () => {
  const batchOf = (semantic: string, items: readonly string[]) => ({ subject: alice, options: { evaluations_semantic: semantic }, evaluations: items.map(asking) });

  it.each([
    ['deny_on_first_deny', ['read record-1', 'write record-2', 'read record-2', 'write record-1']],
    ['permit_on_first_permit', ['write record-2', 'read record-1', 'read record-2', 'write record-1']],
  ] as const)('%s evaluates no item after the one that decides the batch', async (semantic, items) => {
    const { app, decisions } = await watchedApp();
    const res = await postJson(app, '/access/v1/evaluations', batchOf(semantic, items));
    expect((await readJson(res)).evaluations).toHaveLength(2);
    expect(decisions.decided).toEqual(items.slice(0, 2));
  });

  it.each(['execute_all', 'deny_on_first_deny', 'permit_on_first_permit'])('a %s batch given up starts and decides no item after that', async (semantic) => {
    const { app, decisions } = await watchedApp();
    decisions.giveUpAt = 'read record-1';
    await postJson(app, '/access/v1/evaluations', batchOf(semantic, ['read record-1', 'write record-2', 'read record-2']));
    expect(decisions.started).toEqual(['read record-1']);
    expect(decisions.decided).toEqual([]);
  });

  it('starts no more items once one the cache answers at once has decided the batch', async () => {
    const setup = await cacheFromConfig(loadConfig({ CACHE_MEMORY_ENTRIES: '100' }));
    try {
      const { app, decisions } = await watchedApp(setup.cache);
      await postJson(app, '/access/v1/evaluation', { subject: alice, ...asking('write record-2') });
      const items = ['write record-2', ...Array.from({ length: 99 }, () => 'read record-1')];
      expect((await readJson(await postJson(app, '/access/v1/evaluations', batchOf('deny_on_first_deny', items)))).evaluations).toEqual([{ decision: false }]);
      expect(decisions.started.length).toBeLessThan(items.length);
    } finally {
      await setup.close();
    }
  });

  describe('with cache lookups that come back in any order', () => {
    const held = async () => {
      const layer = new HeldLayer();
      const built = await watchedApp(new DecisionCache({ layers: [layer], prefix: 'held:', ttlSeconds: 60 }));
      /** Decided (and so cached) before the batch: its lookup is the first. */
      const cached = async (asked: string) => {
        const answered = postJson(built.app, '/access/v1/evaluation', { subject: alice, ...asking(asked) });
        await layer.asked(1);
        layer.answer(0);
        expect((await answered).status).toBe(200);
      };
      return { ...built, layer, cached };
    };

    it('an item after one the cache answered waits for every item before it to be decided', async () => {
      const { app, decisions, layer, cached } = await held();
      await cached('read record-1');
      const answered = postJson(app, '/access/v1/evaluations', batchOf('deny_on_first_deny', ['read record-2', 'write record-2', 'read record-1', 'write record-1']));
      await layer.asked(5);
      // The last two first: the cached one is answered, the last must still wait its turn.
      layer.answer(3, 4);
      await eventually('the cached item to be answered', () => decisions.decided.includes('read record-1'));
      layer.answer(1, 2);
      expect((await readJson(await answered)).evaluations).toEqual([{ decision: true }, { decision: false }]);
      expect(decisions.decided).toEqual(['read record-1', 'read record-2', 'write record-2']);
    });

    it('an item the cache answers after an earlier item decided the batch does not take its place', async () => {
      const { app, decisions, layer, cached } = await held();
      await cached('delete record-1');
      const answered = postJson(app, '/access/v1/evaluations', batchOf('deny_on_first_deny', ['write record-2', 'read record-1', 'delete record-1']));
      await layer.asked(4);
      layer.answer(1);
      await eventually('the first item to be decided', () => decisions.decided.length === 1);
      layer.answer(3);
      await eventually('the cached deny to be answered', () => decisions.decided.length === 2);
      layer.answer(2);
      expect((await readJson(await answered)).evaluations).toEqual([{ decision: false }]);
      expect(decisions.decided).toEqual(['write record-2', 'delete record-1']);
    });

    it('an item after the one that decided the batch is not evaluated for an identical one that joined its lookup', async () => {
      const { app, decisions, layer } = await held();
      // The fourth item joins the third's lookup, the fifth is looked up after it joined.
      const answered = postJson(app, '/access/v1/evaluations', batchOf('deny_on_first_deny', ['read record-2', 'write record-2', 'read record-1', 'read record-1', 'write record-1']));
      await layer.asked(4);
      layer.answer(0, 1, 2, 3);
      expect((await readJson(await answered)).evaluations).toEqual([{ decision: true }, { decision: false }]);
      expect(decisions.decided).toEqual(['read record-2', 'write record-2']);
    });
  });
});
