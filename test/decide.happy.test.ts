import { beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, postJson, readJson } from './helpers/app.js';

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
});
