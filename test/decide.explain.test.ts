import { beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, postJson, readJson } from './helpers/app.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

const manager = {
  id: 'u-mgr',
  properties: { roles: ['finance_manager'], scope: 'invoice.write', region: 'EU' },
};

// The manager owns the invoice, has no MFA and no approval_limit claim: two denies apply and
// a permit rule's condition fails, so every kind of trace entry shows up.
const selfApproval = {
  subject: manager,
  action: 'approve',
  resource: { type: 'invoice', id: 'inv-9', properties: { region: 'EU', status: 'submitted', amount: 500, owner: 'u-mgr' } },
};

describe('POST /decide?explain=true', () => {
  let app: App;
  beforeAll(async () => {
    ({ app } = await buildTestApp());
  });

  it('lists every rule of the resource type and why it applied or not', async () => {
    const body = await readJson(await postJson(app, '/decide?explain=true', selfApproval));
    const explain = body.explain as Record<string, unknown>[];
    expect(explain.map((e) => e.rule)).toEqual([
      'D1-no-self-approval', 'D2-paid-is-immutable', 'D3-approve-requires-mfa',
      'P1-admin-scope', 'P2-finance-read-own-region', 'P3-finance-write-own-region',
      'P4-manager-approve-within-limit', 'P5-sales-read-own-department', 'P6-sales-write-own-department',
    ]);
    const byRule = new Map(explain.map((e) => [e.rule, e]));
    expect(byRule.get('D1-no-self-approval')).toEqual({
      policy: 'invoices', rule: 'D1-no-self-approval', effect: 'deny', applied: true,
      action: true, roles: null, scopes: null,
      condition: { expression: 'type(resource.properties.owner) != string || resource.properties.owner.trim() == "" || resource.properties.owner.trim().lowerAscii() == subject.id.trim().lowerAscii() || resource.properties.owner in subject.aliases || resource.properties.owner.trim().lowerAscii() in subject.aliases.map(a, a.trim().lowerAscii())', value: true },
    });
    expect(byRule.get('D2-paid-is-immutable')).toMatchObject({
      applied: false, action: false,
      condition: { expression: '!(type(resource.properties.status) == string && resource.properties.status in ["draft", "submitted", "approved"])' },
    });
    expect(byRule.get('D2-paid-is-immutable')?.condition).not.toHaveProperty('value');
    expect(byRule.get('P1-admin-scope')).toMatchObject({ applied: false, action: true, roles: null, scopes: false, condition: null });
    expect(byRule.get('P5-sales-read-own-department')).toMatchObject({ applied: false, action: false, roles: false, scopes: false });
    // Scopes are checked whether or not the roles are held.
    expect(byRule.get('P6-sales-write-own-department')).toMatchObject({ applied: false, action: false, roles: false, scopes: true });
    expect(byRule.get('P4-manager-approve-within-limit')).toMatchObject({
      applied: false, action: true, roles: true, scopes: true,
      condition: { error: expect.stringContaining('approval_limit') },
    });
  });

  it('decides exactly as without explain: same decision, reasons and advice', async () => {
    const requests = [
      selfApproval,
      { ...selfApproval, resource: { ...selfApproval.resource, properties: { ...selfApproval.resource.properties, owner: 'u-acc' } }, context: { mfa: true } },
      { subject: manager, action: 'read', resource: { type: 'invoice', properties: { region: 'EU' } } },
      { subject: manager, action: 'read', resource: { type: 'receipt' } },
    ];
    for (const request of requests) {
      const plain = await readJson(await postJson(app, '/decide', request));
      const explained = await readJson(await postJson(app, '/decide?explain=true', request));
      expect(explained.decision).toBe(plain.decision);
      expect(explained.reasons).toEqual(plain.reasons);
      expect(explained.advice).toEqual(plain.advice);
      expect(explained.policyVersion).toBe(plain.policyVersion);
      expect(plain).not.toHaveProperty('explain');
      expect(explained.explain).toBeInstanceOf(Array);
    }
  });

  it('leaves explain out with explain=false or no parameter', async () => {
    for (const path of ['/decide?explain=false', '/decide']) {
      // A 400 problem has no `explain` either: the answer must be the decision.
      const res = await postJson(app, path, selfApproval);
      expect(res.status, path).toBe(200);
      const body = await readJson(res);
      expect(body['decision'], path).toBe('deny');
      expect(body, path).not.toHaveProperty('explain');
    }
  });

  it('answers 400 problem+json for any other explain value', async () => {
    const res = await postJson(app, '/decide?explain=yes', selfApproval);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await readJson(res)).toMatchObject({ errors: [{ path: '?explain' }] });
  });

  it('answers 400 for explain given more than once, rather than take one of them', async () => {
    for (const query of ['explain=true&explain=yes', 'explain=false&explain=true', 'explain=true&explain=true']) {
      const res = await postJson(app, `/decide?${query}`, selfApproval);
      expect(res.status, query).toBe(400);
      expect(await readJson(res)).toMatchObject({ errors: [{ path: '?explain', message: 'given more than once' }] });
    }
  });
});
