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
