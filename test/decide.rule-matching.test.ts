import { beforeAll, describe, expect, it } from 'vitest';
import { postJson, readJson } from './helpers/app.js';
import { appOverPolicies } from './helpers/policy-app.js';

type App = Awaited<ReturnType<typeof appOverPolicies>>['app'];

/** `count` role names, none of them a role the policies below name. */
const unrelatedRoles = (count: number) => Array.from({ length: count }, (_, i) => `team-${i}`);

describe('POST /decide: a subject holding many roles', () => {
  let app: App;
  beforeAll(async () => {
    ({ app } = await appOverPolicies({
      'docs.json': {
        id: 'docs',
        resource: 'doc',
        rules: [{ id: 'admins-read', effect: 'permit', actions: ['read'], roles: ['admin'] }],
      },
    }));
  });

  const decide = async (roles: readonly string[]) =>
    readJson(await postJson(app, '/decide', { subject: { id: 'u1', properties: { roles } }, action: 'read', resource: { type: 'doc', id: 'd1' } }));

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
  let app: App;
  beforeAll(async () => {
    ({ app } = await appOverPolicies({
      'docs.json': {
        id: 'docs',
        resource: 'doc',
        rules: [
          { id: 'locked', effect: 'deny', actions: ['read'], condition: 'resource.properties.locked == true' },
          { id: 'owner-reads', effect: 'permit', actions: ['read'], condition: 'resource.properties.owner == subject.id' },
        ],
      },
    }));
  });

  // The permit's condition fails on a document without an owner; once the deny applies no permit
  // can change the answer, so the permit is not evaluated and its failure is not a reason.
  it('is the whole of the reasons: a permit it overrides is not evaluated, its failure unreported', async () => {
    const body = { subject: { id: 'u1' }, action: 'read', resource: { type: 'doc', id: 'd1', properties: { locked: true } } };
    const expected = { decision: 'deny', reasons: [{ policy: 'docs', rule: 'locked', effect: 'deny' }], advice: [] };
    expect(await readJson(await postJson(app, '/decide', body))).toMatchObject(expected);
    expect(await readJson(await postJson(app, '/decide?explain=true', body))).toMatchObject(expected);
    // Without the deny, the same failure is reported.
    const unlocked = { ...body, resource: { ...body.resource, properties: { locked: false } } };
    expect(await readJson(await postJson(app, '/decide', unlocked))).toMatchObject({ decision: 'deny', reasons: [{ code: 'no_applicable_rule' }, { code: 'condition_error', rule: 'owner-reads' }] });
  });
});
