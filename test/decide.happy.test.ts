import { beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { tempDir } from './helpers/tmp.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

const accountantEU = {
  id: 'u-acc',
  properties: { roles: ['accountant'], scope: 'invoice.read invoice.write', region: 'EU', department: 'finance' },
};

describe('POST /decide', () => {
  let app: App;
  beforeAll(async () => {
    ({ app } = await buildTestApp());
  });

  it('permits an accountant reading an invoice in their region, naming the rule', async () => {
    const res = await postJson(app, '/decide', {
      subject: accountantEU,
      action: 'read',
      resource: { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'EU' } },
    });
    expect(res.status).toBe(200);
    const body = await readJson(res);
    expect(body).toMatchObject({
      decision: 'permit',
      reasons: [{ policy: 'invoices', rule: 'P2-finance-read-own-region', effect: 'permit' }],
      advice: [],
    });
    expect(body.decisionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.policyVersion).toMatch(/^[0-9a-f]{16}$/);
  });

  it('denies the same accountant reading a credit note of another region', async () => {
    const res = await postJson(app, '/decide', {
      subject: accountantEU,
      action: 'read',
      resource: { type: 'invoice', id: 'inv-2', properties: { invoice_type: 'credit_note', region: 'US' } },
    });
    const body = await readJson(res);
    expect(body.decision).toBe('deny');
    expect(body.reasons).toEqual([expect.objectContaining({ code: 'no_applicable_rule' })]);
  });

  it('approves per the issue example only with MFA, denying with step-up advice without it', async () => {
    const manager = { id: 'fm-eu', properties: { roles: ['finance_manager'], scope: 'invoice.write', region: 'EU', approval_limit: 10000 } };
    const resource = { type: 'invoice', id: 'inv-3', properties: { region: 'EU', status: 'submitted', amount: 5000, owner: 'bob' } };
    const withMfa = await readJson(await postJson(app, '/decide', { subject: manager, action: 'approve', resource, context: { mfa: true } }));
    expect(withMfa).toMatchObject({ decision: 'permit', reasons: [{ rule: 'P4-manager-approve-within-limit' }], advice: [] });
    const without = await readJson(await postJson(app, '/decide', { subject: manager, action: 'approve', resource }));
    expect(without).toMatchObject({
      decision: 'deny',
      reasons: [{ policy: 'invoices', rule: 'D3-approve-requires-mfa', effect: 'deny' }],
      advice: [{ policy: 'invoices', rule: 'D3-approve-requires-mfa', advice: { step_up: 'mfa' } }],
    });
  });

  it('names every deny rule that applies, not only the first, with each one\'s advice', async () => {
    // The manager approves their own invoice without MFA: D1 and D3 both deny.
    const manager = { id: 'fm-eu', properties: { roles: ['finance_manager'], scope: 'invoice.write', region: 'EU', approval_limit: 10000 } };
    const resource = { type: 'invoice', id: 'inv-4', properties: { region: 'EU', status: 'submitted', amount: 5000, owner: 'fm-eu' } };
    const body = await readJson(await postJson(app, '/decide', { subject: manager, action: 'approve', resource }));
    expect(body).toMatchObject({
      decision: 'deny',
      reasons: [
        { policy: 'invoices', rule: 'D1-no-self-approval', effect: 'deny' },
        { policy: 'invoices', rule: 'D3-approve-requires-mfa', effect: 'deny' },
      ],
      advice: [{ policy: 'invoices', rule: 'D3-approve-requires-mfa', advice: { step_up: 'mfa' } }],
    });
  });
});

describe('POST /decide: several policies for one resource type', () => {
  // Files are read in name order; each policy of the type adds its rules to the others'.
  const reading = { id: 'docs-reading', resource: 'doc', rules: [{ id: 'readers-read', effect: 'permit', actions: ['read'], roles: ['reader'] }] };
  const legal = { id: 'docs-legal', resource: 'doc', rules: [{ id: 'held-is-sealed', effect: 'deny', actions: ['*'], condition: 'resource.properties.legal_hold == true' }] };
  const editing = { id: 'docs-editing', resource: 'doc', rules: [{ id: 'editors-edit', effect: 'permit', actions: ['edit'], roles: ['editor'] }] };
  let app: App;
  beforeAll(async () => {
    ({ app } = await buildTestApp({ policyDir: await tempDir({ 'a-reading.json': reading, 'b-legal.json': legal, 'c-editing.json': editing }) }));
  });
  const decide = async (roles: string[], action: string, held: boolean) =>
    readJson(await postJson(app, '/decide', { subject: { id: 'u-1', properties: { roles } }, action, resource: { type: 'doc', id: 'd-1', properties: { legal_hold: held } } }));

  it('permits by the rules of every file', async () => {
    expect(await decide(['reader'], 'read', false)).toMatchObject({ decision: 'permit', reasons: [{ policy: 'docs-reading', rule: 'readers-read' }] });
    expect(await decide(['editor'], 'edit', false)).toMatchObject({ decision: 'permit', reasons: [{ policy: 'docs-editing', rule: 'editors-edit' }] });
  });

  it('lets a deny rule of one file beat the permits of the files before and after it', async () => {
    expect(await decide(['reader'], 'read', true)).toMatchObject({ decision: 'deny', reasons: [{ policy: 'docs-legal', rule: 'held-is-sealed' }] });
    expect(await decide(['editor'], 'edit', true)).toMatchObject({ decision: 'deny', reasons: [{ policy: 'docs-legal', rule: 'held-is-sealed' }] });
  });
});
