import { beforeAll, describe, expect, it } from 'vitest';
import { cacheFromConfig } from '../src/cache/from-config.js';
import { loadConfig } from '../src/config.js';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { certificationDir } from './helpers/authzen.js';

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
    const cache = cacheFromConfig(loadConfig({ CACHE_MEMORY_ENTRIES: '100' }));
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
