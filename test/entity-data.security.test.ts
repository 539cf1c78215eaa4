import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLocalJWKSet } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { createClaimMapper, defaultClaimMapping, issuerClaimMapper, type ClaimMapper } from '../src/token/claims.js';
import { createJwtVerifier } from '../src/token/verify.js';
import { buildTestApp, defaultPolicyDir, postJson, readJson } from './helpers/app.js';
import { runCli } from './helpers/cli.js';
import { tempDir, writeFiles, type PolicyFiles } from './helpers/policy-dir.js';
import { jwks, makeKey, sign, testAudience, testIssuer } from './helpers/tokens.js';

const removals: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(removals.splice(0).map((remove) => remove()));
});

/** A policy directory with the invoice policies and `files` (`data/*.json`, more policies). */
async function policyDirWith(files: PolicyFiles): Promise<string> {
  const dir = await tempDir('pdp-entities-');
  removals.push(dir.remove);
  await copyFile(join(defaultPolicyDir, 'invoices.json'), join(dir.path, 'invoices.json'));
  await writeFiles(dir.path, files);
  return dir.path;
}

/** What the directory knows of a finance manager besides roles: scopes and facts enough for P4. */
const managerFacts = { scope: 'invoice.read invoice.write', region: 'EU', approval_limit: 5000 };
const manager = { type: 'user', id: 'u-mgr', aliases: ['mgr@example.com'], properties: { roles: ['finance_manager'], ...managerFacts } };

/** A submitted invoice someone else owns: P4 permits the manager to approve it. */
const othersInvoice = { type: 'invoice', id: 'inv-9', properties: { region: 'EU', status: 'submitted', amount: 500, owner: 'someone' } };

const approve = (subject: unknown, resource: unknown = othersInvoice) => ({ subject, action: 'approve', resource, context: { mfa: true } });

async function appWith(entities: unknown[], claims?: ClaimMapper) {
  const { app } = await buildTestApp({ policyDir: await policyDirWith({ 'data/users.json': { entities } }), claims });
  return async (body: unknown) => readJson(await postJson(app, '/decide', body));
}

describe('entity data never widens the roles or scopes the caller states', () => {
  it('takes no stored scope for a caller whose scopes are in scp, an empty scp included; stored scopes apply to a caller stating none', async () => {
    const decide = await appWith([manager]);
    expect(await decide(approve({ id: 'u-mgr', properties: { scp: ['invoice.read'] } }))).toMatchObject({ decision: 'deny', reasons: [{ code: 'no_applicable_rule' }] });
    expect((await decide(approve({ id: 'u-mgr', properties: { scp: [] } }))).decision).toBe('deny');
    expect(await decide(approve({ id: 'u-mgr', properties: { scp: ['invoice.write'] } }))).toMatchObject({ decision: 'permit', reasons: [{ rule: 'P4-manager-approve-within-limit' }] });
    expect(await decide(approve({ id: 'u-mgr' }))).toMatchObject({ decision: 'permit', reasons: [{ rule: 'P4-manager-approve-within-limit' }] });
  });

  it('takes no stored scope for a token whose scopes are in scp', async () => {
    const key = await makeKey('ES256');
    const tokens = createJwtVerifier({ keys: createLocalJWKSet(jwks([key])), issuer: testIssuer, audience: [testAudience], algorithms: ['ES256'] });
    const { app } = await buildTestApp({ policyDir: await policyDirWith({ 'data/users.json': { entities: [manager] } }), tokens });
    const decide = async (scp: string[]) => {
      const token = await sign(key, { sub: 'u-mgr', scp });
      return (await readJson(await postJson(app, '/decide', { token, action: 'approve', resource: othersInvoice, context: { mfa: true } }))).decision;
    };
    expect([await decide(['invoice.read']), await decide(['invoice.write'])]).toEqual(['deny', 'permit']);
  });

  it('does not add the stored roles to a caller\'s role', async () => {
    const decide = await appWith([manager]);
    expect((await decide(approve({ id: 'u-mgr', properties: { role: 'accountant' } }))).decision).toBe('deny');
    expect((await decide(approve({ id: 'u-mgr', properties: { role: 'finance_manager' } }))).decision).toBe('permit');
  });

  it('does not let a stored claim spelled as the whole dotted path replace the caller\'s roles', async () => {
    const claims = createClaimMapper({ ...defaultClaimMapping, roles: ['realm_access.roles'] });
    const stored = { ...manager, properties: { 'realm_access.roles': ['finance_manager'], ...managerFacts } };
    const decide = await appWith([stored], claims);
    expect((await decide(approve({ id: 'u-mgr', properties: { realm_access: { roles: ['accountant'] } } }))).decision).toBe('deny');
    expect((await decide(approve({ id: 'u-mgr' }))).decision).toBe('permit');
  });

  it('keeps a stored claim whose name only begins a path of a kind the caller states: it is no head of that path', async () => {
    const claims = createClaimMapper({ ...defaultClaimMapping, roles: ['region_roles'] });
    const stored = { type: 'user', id: 'u-acc', properties: { region: 'EU' } };
    const decide = await appWith([stored], claims);
    const read = { action: 'read', resource: { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'EU' } } };
    const caller = { id: 'u-acc', properties: { region_roles: ['accountant'], scope: 'invoice.read' } };
    expect(await decide({ subject: caller, ...read })).toMatchObject({ decision: 'permit', reasons: [{ rule: 'P2-finance-read-own-region' }] });
  });

  it('applies stored roles to a Keycloak token stating none, though it holds another client\'s roles in the same claim', async () => {
    const key = await makeKey('ES256');
    const tokens = createJwtVerifier({ keys: createLocalJWKSet(jwks([key])), issuer: testIssuer, audience: [testAudience], algorithms: ['ES256'] });
    const claims = createClaimMapper({ ...defaultClaimMapping, roles: ['realm_access.roles', 'resource_access.invoice-api.roles'] });
    const stored = { ...manager, properties: { resource_access: { 'invoice-api': { roles: ['finance_manager'] } }, ...managerFacts } };
    const { app } = await buildTestApp({ policyDir: await policyDirWith({ 'data/users.json': { entities: [stored] } }), tokens, claims });
    const decide = async (token: string) => readJson(await postJson(app, '/decide', { token, action: 'approve', resource: othersInvoice, context: { mfa: true } }));
    const account = { resource_access: { account: { roles: ['manage-account'] } } };
    expect(await decide(await sign(key, { sub: 'u-mgr', ...account }))).toMatchObject({ decision: 'permit', reasons: [{ rule: 'P4-manager-approve-within-limit' }] });
    const own = { resource_access: { ...account.resource_access, 'invoice-api': { roles: ['accountant'] } } };
    expect(await decide(await sign(key, { sub: 'u-mgr', ...own }))).toMatchObject({ decision: 'deny', reasons: [{ code: 'no_applicable_rule' }] });
  });

  it('picks the issuer\'s mapping by the caller\'s iss only: a stored iss changes no mapping', async () => {
    // Okta's tokens carry roles in `groups`; to any other caller `groups` is just a claim.
    const claims = issuerClaimMapper(defaultClaimMapping, new Map([['https://okta.test', { ...defaultClaimMapping, roles: ['groups'] }]]));
    const stored = { ...manager, properties: { iss: 'https://okta.test', ...managerFacts } };
    const decide = await appWith([stored], claims);
    expect((await decide(approve({ id: 'u-mgr', properties: { groups: ['finance_manager'] } }))).decision).toBe('deny');
    expect((await decide(approve({ id: 'u-mgr', properties: { iss: 'https://okta.test', groups: ['finance_manager'] } }))).decision).toBe('permit');
  });

  it('pdp check takes no stored scope for a caller whose scopes are in scp', async () => {
    const dir = await policyDirWith({ 'data/users.json': { entities: [manager] } });
    const run = await runCli(['check', dir, '--request', '-', '--json'], { input: JSON.stringify(approve({ id: 'u-mgr', properties: { scp: ['invoice.read'] } })) });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ decision: 'deny', reasons: [{ code: 'no_applicable_rule' }] });
  });
});

describe('an entity found by an alias is that entity', () => {
  it('compares the entity\'s own id: an alias does not get round no-self-approval', async () => {
    const ownInvoice = { type: 'invoice', id: 'inv-1', properties: { owner: 'u-mgr', status: 'submitted', amount: 500, region: 'EU' } };
    const decide = await appWith([manager, ownInvoice]);
    for (const id of ['u-mgr', 'mgr@example.com']) {
      expect(await decide(approve({ id }, { type: 'invoice', id: 'inv-1' }))).toMatchObject({ decision: 'deny', reasons: [{ rule: 'D1-no-self-approval' }] });
    }
  });

  it('compares a resource\'s own id: naming it by an alias does not get round a rule on its id', async () => {
    const docs = {
      id: 'docs',
      resource: 'doc',
      rules: [
        { id: 'readers', effect: 'permit', actions: ['read'], roles: ['reader'] },
        { id: 'blocked', effect: 'deny', actions: ['read'], condition: 'resource.id in subject.properties.blocked' },
      ],
    };
    const dir = await policyDirWith({
      'docs.json': docs,
      'data/users.json': { entities: [{ type: 'user', id: 'u-1', properties: { roles: ['reader'], blocked: ['doc-1'] } }, { type: 'doc', id: 'doc-1', aliases: ['DOC-0001'] }] },
    });
    const { app } = await buildTestApp({ policyDir: dir });
    for (const id of ['doc-1', 'DOC-0001']) {
      const body = await readJson(await postJson(app, '/decide', { subject: { id: 'u-1' }, action: 'read', resource: { type: 'doc', id } }));
      expect(body).toMatchObject({ decision: 'deny', reasons: [{ rule: 'blocked' }] });
    }
  });
});

describe('stored resource properties are authoritative: the request fills in only what is not stored', () => {
  const fmEu = { type: 'user', id: 'fm-eu', properties: { roles: ['finance_manager'], scope: 'invoice.write', approval_limit: 10000, region: 'EU' } };
  const ownInvoice = { type: 'invoice', id: 'inv-1', properties: { owner: 'fm-eu', status: 'submitted', amount: 5000, region: 'EU', invoice_type: 'purchase' } };
  const claimedElsewhere = { type: 'invoice', id: 'inv-1', properties: { owner: 'someone-else' } };

  it('a token subject cannot approve its own invoice by sending another owner', async () => {
    const key = await makeKey('ES256');
    const tokens = createJwtVerifier({ keys: createLocalJWKSet(jwks([key])), issuer: testIssuer, audience: [testAudience], algorithms: ['ES256'] });
    const { app } = await buildTestApp({ policyDir: await policyDirWith({ 'data/entities.json': { entities: [fmEu, ownInvoice] } }), tokens });
    const token = await sign(key, { sub: 'fm-eu' });
    for (const resource of [claimedElsewhere, { type: 'invoice', id: 'inv-1', properties: {} }]) {
      const body = await readJson(await postJson(app, '/decide', { token, action: 'approve', resource, context: { mfa: true } }));
      expect(body).toMatchObject({ decision: 'deny', reasons: [{ rule: 'D1-no-self-approval' }] });
    }
  });

  it('holds for AuthZEN evaluations and pdp check too', async () => {
    const dir = await policyDirWith({ 'data/entities.json': { entities: [fmEu, ownInvoice] } });
    const { app } = await buildTestApp({ policyDir: dir });
    const evaluation = await readJson(await postJson(app, '/access/v1/evaluation', {
      subject: { type: 'user', id: 'fm-eu' }, action: { name: 'approve' }, resource: claimedElsewhere, context: { mfa: true },
    }));
    expect(evaluation).toMatchObject({ decision: false });
    const run = await runCli(['check', dir, '--request', '-', '--json'], { input: JSON.stringify(approve({ id: 'fm-eu' }, claimedElsewhere)) });
    expect(JSON.parse(run.stdout)).toMatchObject({ decision: 'deny', reasons: [{ rule: 'D1-no-self-approval' }] });
  });

  it('takes from the request a property that is not stored', async () => {
    const unowned = { type: 'invoice', id: 'inv-1', properties: { status: 'submitted', amount: 5000, region: 'EU', invoice_type: 'purchase' } };
    const decide = await appWith([fmEu, unowned]);
    expect(await decide(approve({ id: 'fm-eu' }, claimedElsewhere))).toMatchObject({ decision: 'permit', reasons: [{ rule: 'P4-manager-approve-within-limit' }] });
  });
});

describe('authoritative stored claims go over the caller\'s', () => {
  /** A deny rule for a role the directory gives a user it blocks, beside the invoice policies. */
  const suspension = {
    'suspension.json': { id: 'suspension', resource: 'invoice', rules: [{ id: 'D9-suspended', effect: 'deny', actions: ['*'], roles: ['suspended'] }] },
  };
  const suspended = (authoritative?: string[]) => ({ ...manager, properties: { ...manager.properties, roles: ['finance_manager', 'suspended'] }, ...(authoritative && { authoritative }) });

  it('keeps a role the directory gives while the token states its own roles, only when marked', async () => {
    const key = await makeKey('ES256');
    const tokens = createJwtVerifier({ keys: createLocalJWKSet(jwks([key])), issuer: testIssuer, audience: [testAudience], algorithms: ['ES256'] });
    const decideWith = async (entity: unknown) => {
      const { app } = await buildTestApp({ policyDir: await policyDirWith({ ...suspension, 'data/users.json': { entities: [entity] } }), tokens });
      const token = await sign(key, { sub: 'u-mgr', roles: ['finance_manager'], scope: 'invoice.write' });
      return readJson(await postJson(app, '/decide', { token, action: 'approve', resource: othersInvoice, context: { mfa: true } }));
    };
    expect(await decideWith(suspended())).toMatchObject({ decision: 'permit' });
    expect(await decideWith(suspended(['roles']))).toMatchObject({ decision: 'deny', reasons: [{ rule: 'D9-suspended' }] });
  });

  it('replaces every claim of the kind: stored roles take the caller\'s role and roles away', async () => {
    const cutBack = { ...manager, properties: { ...manager.properties, roles: ['accountant'] }, authoritative: ['roles'] };
    const decide = await appWith([cutBack]);
    expect((await decide(approve({ id: 'u-mgr', properties: { role: 'finance_manager' } }))).decision).toBe('deny');
    expect((await decide(approve({ id: 'u-mgr', properties: { roles: ['finance_manager'] } }))).decision).toBe('deny');
    const noRoles = await appWith([{ ...manager, properties: { ...manager.properties, roles: [] }, authoritative: ['roles'] }]);
    expect((await noRoles(approve({ id: 'u-mgr', properties: { roles: ['finance_manager'] } }))).decision).toBe('deny');
  });

  it('never brings in stored roles where the caller stated roles in a claim set aside for its scopes', async () => {
    // Roles and scopes in one claim (`authz`); the directory decides scopes only, in a stored claim
    // named by the whole path. Setting the caller's `authz` aside for its scopes takes its roles
    // with it: the stored roles must not then stand in for the roles the caller stated.
    const claims = createClaimMapper({ ...defaultClaimMapping, roles: ['authz.roles'], scopes: ['authz.scopes'] });
    const entity = {
      type: 'user',
      id: 'u-mgr',
      properties: { authz: { roles: ['finance_manager'] }, 'authz.scopes': 'invoice.write', region: 'EU', approval_limit: 5000 },
      authoritative: ['authz.scopes'],
    };
    const decide = await appWith([entity], claims);
    const caller = approve({ id: 'u-mgr', properties: { authz: { roles: ['accountant'], scopes: 'invoice.write' } } });
    expect(await decide(caller)).toMatchObject({ decision: 'deny', reasons: [{ code: 'no_applicable_rule' }] });
    expect(await decide(approve({ id: 'u-mgr' }))).toMatchObject({ decision: 'permit', reasons: [{ rule: 'P4-manager-approve-within-limit' }] });
  });

  it('goes over a caller\'s attribute of the same name', async () => {
    const movedToUs = { ...manager, properties: { ...manager.properties, region: 'US' } };
    const caller = approve({ id: 'u-mgr', properties: { region: 'EU' } });
    expect((await (await appWith([movedToUs]))(caller)).decision).toBe('permit');
    expect(await (await appWith([{ ...movedToUs, authoritative: ['region'] }]))(caller)).toMatchObject({ decision: 'deny', reasons: [{ code: 'no_applicable_rule' }] });
  });

  it('pdp validate names the file and path of an authoritative name that is not stored, or the issuer', async () => {
    const dir = await policyDirWith({
      'data/users.json': { entities: [{ ...manager, authoritative: ['region', 'status'] }, { type: 'user', id: 'u-2', properties: { iss: 'x' }, authoritative: ['iss'] }] },
    });
    const run = await runCli(['validate', dir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('data/users.json $.entities[0].authoritative[1]');
    expect(run.stderr).toContain('data/users.json $.entities[1].authoritative[0]');
    expect(run.stderr).not.toContain('$.entities[0].authoritative[0]');
  });
});
