import { beforeAll, describe, expect, it } from 'vitest';
import { postJson, readJson } from './helpers/app.js';
import { appOverPolicies } from './helpers/policy-app.js';

type App = Awaited<ReturnType<typeof appOverPolicies>>['app'];

/** The app over `files`, built before the tests of the describe block that calls this. */
function appBeforeAll(files: Readonly<Record<string, unknown>>): () => App {
  let app: App | undefined;
  beforeAll(async () => {
    ({ app } = await appOverPolicies(files));
  });
  return () => {
    if (app === undefined) throw new Error('the app is built before the tests');
    return app;
  };
}

/** `count` role names, none of them a role the policies below name. */
const unrelatedRoles = (count: number) => Array.from({ length: count }, (_, i) => `team-${i}`);

describe('POST /decide: a subject holding many roles', () => {
  const app = appBeforeAll({
    'docs.json': {
      id: 'docs',
      resource: 'doc',
      rules: [{ id: 'admins-read', effect: 'permit', actions: ['read'], roles: ['admin'] }],
    },
  });

  const decide = async (roles: readonly string[]) =>
    readJson(await postJson(app(), '/decide', { subject: { id: 'u1', properties: { roles } }, action: 'read', resource: { type: 'doc', id: 'd1' } }));

  // From 16 roles a subject's roles are looked up as a set: that path must hold a rule's roles
  // as strictly as the short one does, or a subject with many unrelated roles passes any role check.
  it.each([1, 15, 16, 40, 999])('is denied a rule naming a role it lacks, with %i unrelated roles', async (count) => {
    expect(await decide(unrelatedRoles(count))).toMatchObject({ decision: 'deny', reasons: [{ code: 'no_applicable_rule' }] });
  });

  it.each([1, 15, 16, 40, 999])('is permitted by a rule naming a role it holds, among %i unrelated roles', async (count) => {
    expect(await decide([...unrelatedRoles(count), 'admin'])).toMatchObject({ decision: 'permit', reasons: [{ policy: 'docs', rule: 'admins-read' }] });
  });
});

describe('POST /decide: a deny that applies', () => {
  const app = appBeforeAll({
    'docs.json': {
      id: 'docs',
      resource: 'doc',
      rules: [
        { id: 'locked', effect: 'deny', actions: ['read'], condition: 'resource.properties.locked == true' },
        { id: 'owner-reads', effect: 'permit', actions: ['read'], condition: 'resource.properties.owner == subject.id' },
      ],
    },
  });

  // The permit's condition fails on a document without an owner; once the deny applies no permit
  // can change the answer, so the permit is not evaluated and its failure is not a reason.
  it('is the whole of the reasons: a permit it overrides is not evaluated, its failure unreported', async () => {
    const body = { subject: { id: 'u1' }, action: 'read', resource: { type: 'doc', id: 'd1', properties: { locked: true } } };
    const expected = { decision: 'deny', reasons: [{ policy: 'docs', rule: 'locked', effect: 'deny' }], advice: [] };
    expect(await readJson(await postJson(app(), '/decide', body))).toMatchObject(expected);
    expect(await readJson(await postJson(app(), '/decide?explain=true', body))).toMatchObject(expected);
    // Without the deny, the same failure is reported.
    const unlocked = { ...body, resource: { ...body.resource, properties: { locked: false } } };
    expect(await readJson(await postJson(app(), '/decide', unlocked))).toMatchObject({ decision: 'deny', reasons: [{ code: 'no_applicable_rule' }, { code: 'condition_error', rule: 'owner-reads' }] });
  });
});

describe('POST /decide: a condition that fails beside the deciding rules', () => {
  const app = appBeforeAll({
    'docs.json': {
      id: 'docs',
      resource: 'doc',
      rules: [
        { id: 'frozen', effect: 'deny', actions: ['write'], condition: 'context.frozen == true' },
        { id: 'public-reads', effect: 'permit', actions: ['read', 'write'], condition: 'resource.properties.public == true' },
        { id: 'owner-reads', effect: 'permit', actions: ['read', 'write'], condition: 'resource.properties.owner == subject.id' },
      ],
    },
  });

  // The deciding rules come first, then a condition_error for each rule whose condition failed:
  // a permit is no less a permit for another permit's failure, nor a deny for its own.
  it('follows them, on a permit as on a deny', async () => {
    const body = { subject: { id: 'u1' }, action: 'read', resource: { type: 'doc', id: 'd1', properties: { public: true } } };
    expect(await readJson(await postJson(app(), '/decide', body))).toMatchObject({
      decision: 'permit',
      reasons: [{ policy: 'docs', rule: 'public-reads', effect: 'permit' }, { code: 'condition_error', policy: 'docs', rule: 'owner-reads' }],
    });
    const write = { ...body, action: 'write' };
    expect(await readJson(await postJson(app(), '/decide', write))).toMatchObject({
      decision: 'deny',
      reasons: [{ policy: 'docs', rule: 'frozen', effect: 'deny' }, { code: 'condition_error', policy: 'docs', rule: 'frozen' }],
    });
  });
});

describe('POST /decide: comparisons of numbers at their boundary', () => {
  const operators = ['<', '<=', '>', '>='] as const;
  const app = appBeforeAll({
    'payments.json': {
      id: 'payments',
      resource: 'payment',
      rules: operators.map((op, i) => ({ id: `amount-${i}`, effect: 'permit', actions: [`pay-${i}`], condition: `resource.properties.amount ${op} subject.properties.limit` })),
    },
  });

  const holds = async (op: (typeof operators)[number], amount: number, limit: number) => {
    const action = `pay-${operators.indexOf(op)}`;
    const body = { subject: { id: 'u1', properties: { limit } }, action, resource: { type: 'payment', id: 'p1', properties: { amount } } };
    const { decision } = await readJson(await postJson(app(), '/decide', body));
    return decision === 'permit';
  };

  // An amount equal to a limit is where a strict and a loose comparison part: `amount < limit`
  // taken as `<=` would let a payment of exactly the limit through a rule meant to stop short of it.
  it.each([
    ['<', [false, false, true]],
    ['<=', [false, true, true]],
    ['>', [true, false, false]],
    ['>=', [true, true, false]],
  ] as const)('decides amount %s limit for an amount above, at and below the limit', async (op, expected) => {
    expect([await holds(op, 100.5, 100), await holds(op, 100, 100), await holds(op, 99.5, 100)]).toEqual(expected);
  });
});

describe('POST /decide: a member selected on a list', () => {
  const app = appBeforeAll({
    'docs.json': {
      id: 'docs',
      resource: 'doc',
      rules: [{ id: 'one-tag', effect: 'permit', actions: ['read'], condition: 'context.tags.length == context.count' }],
    },
  });

  // A CEL list has no members: `length` is JavaScript's, not the request's, and must never
  // stand in for a value the request gave.
  it('is an error, never a permit, however the list looks', async () => {
    for (const tags of [['a'], [], ['a', 'b']]) {
      const body = { subject: { id: 'u1' }, action: 'read', resource: { type: 'doc', id: 'd1' }, context: { tags, count: tags.length } };
      expect(await readJson(await postJson(app(), '/decide', body))).toMatchObject({
        decision: 'deny',
        reasons: [{ code: 'no_applicable_rule' }, { code: 'condition_error', rule: 'one-tag', detail: 'No such key: length' }],
      });
    }
  });
});
