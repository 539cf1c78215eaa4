import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { readAnswer } from './helpers/answers.js';
import { buildTestApp, postJson } from './helpers/app.js';
import { invoiceDecideBody, subjectIds } from './oracle/arbitraries.js';
import { expectedDecision, questionFromBody, rolesAndScopes } from './oracle/invoice-rules.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];
type Body = (typeof invoiceDecideBody) extends fc.Arbitrary<infer T> ? T : never;

/** Sends a generated body; answers the decision, or fails on anything but a 200. */
async function decide(app: App, body: unknown, query = ''): Promise<'permit' | 'deny'> {
  const answer = await readAnswer(await postJson(app, `/decide${query}`, body));
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return answer.body['decision'] as 'permit' | 'deny';
}

// The body as the service reads it: after a trip through JSON (NaN and Infinity become null).
const sent = (body: Body) => JSON.parse(JSON.stringify(body)) as unknown;

describe('POST /decide against an independent statement of the invoice policy', () => {
  let app: App;
  beforeAll(async () => {
    ({ app } = await buildTestApp());
  });

  it('decides every generated request exactly as the oracle, permits included', async () => {
    let permits = 0;
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(invoiceDecideBody, async (body) => {
        const question = questionFromBody(sent(body));
        expect(question).toBeDefined();
        if (question === undefined) return;
        const decision = await decide(app, body);
        expect(decision, JSON.stringify(body)).toBe(expectedDecision(question));
        runs++;
        if (decision === 'permit') permits++;
      }),
      { numRuns: 1_000 },
    );
    // The generator reaches the permit paths often enough for the comparison to mean something.
    expect(permits / runs).toBeGreaterThan(0.05);
  });

  it('decides the same with ?explain=true', async () => {
    await fc.assert(
      fc.asyncProperty(invoiceDecideBody, async (body) => {
        expect(await decide(app, body, '?explain=true')).toBe(await decide(app, body));
      }),
      { numRuns: 200 },
    );
  });

  it('denies every subject that holds neither a role a permit rule names nor the admin scope', async () => {
    const permitRoles = ['accountant', 'finance_manager', 'sales_rep'];
    await fc.assert(
      fc.asyncProperty(invoiceDecideBody, async (body) => {
        const { roles, scopes } = rolesAndScopes(body.subject.properties);
        fc.pre(!roles.some((role) => permitRoles.includes(role)) && !scopes.includes('invoice.admin'));
        expect(await decide(app, body)).toBe('deny');
      }),
      { numRuns: 200 },
    );
  });

  it('never lets anyone approve without mfa === true in the context, or approve an invoice they own', async () => {
    const approvals = invoiceDecideBody.map((body) => ({ ...body, action: 'approve' }));
    await fc.assert(
      fc.asyncProperty(approvals, async (body) => {
        const owner = body.resource.properties.owner;
        fc.pre(body.context?.mfa !== true || typeof owner !== 'string' || owner === body.subject.id);
        expect(await decide(app, body)).toBe('deny');
      }),
      { numRuns: 300 },
    );
  });

  it('never lets anyone update or delete a paid invoice, or one whose status is unknown or not a string', async () => {
    const statuses = fc.constantFrom<unknown>('paid', undefined, ['paid'], { v: 'paid' }, null, 1, true);
    const changes = fc.tuple(invoiceDecideBody, fc.constantFrom('update', 'delete'), statuses);
    await fc.assert(
      fc.asyncProperty(changes, async ([body, action, status]) => {
        const properties = { ...body.resource.properties, status };
        expect(await decide(app, { ...body, action, resource: { ...body.resource, properties } })).toBe('deny');
      }),
      { numRuns: 200 },
    );
  });

  it('never gives a subject of a type other than user an owner\'s rights by its id, which a user may share', async () => {
    const writers = fc.constantFrom(
      { claims: { roles: ['sales_rep'], scope: 'invoice.write', department: 'north' }, invoice: { invoice_type: 'sales', department: 'north' } },
      { claims: { roles: ['accountant'], scope: 'invoice.write', region: 'EU' }, invoice: { invoice_type: 'purchase', region: 'EU' } },
    );
    const writes = fc.tuple(fc.constantFrom(...subjectIds), fc.constantFrom('partner-user', 'service'), fc.constantFrom('create', 'update'), writers);
    await fc.assert(
      fc.asyncProperty(writes, async ([id, type, action, writer]) => {
        const resource = { type: 'invoice', id: 'inv-1', properties: { ...writer.invoice, status: 'draft', owner: id } };
        const ask = (subjectType: string) => ({ subject: { type: subjectType, id, properties: writer.claims }, action, resource });
        const decisions = [await decide(app, ask(type)), await decide(app, ask('user'))];
        // An update of a draft is the accountant's by region alone; every other write here needs the owner.
        const byOwnerOnly = writer.invoice.invoice_type === 'sales' || action === 'create';
        expect(decisions).toEqual([byOwnerOnly ? 'deny' : 'permit', 'permit']);
        expect(decisions[0]).toBe(expectedDecision({ subjectType: type, subjectId: id, claims: writer.claims, action, resourceType: 'invoice', resource: resource.properties, context: {} }));
      }),
      { numRuns: 50 },
    );
  });

  it('never approves an amount that is not a number below a numeric approval limit', async () => {
    const approvals = fc.tuple(invoiceDecideBody, fc.constantFrom('100000', 100_000, '5', null), fc.constantFrom('20', 20, '1e9', true));
    await fc.assert(
      fc.asyncProperty(approvals, async ([body, amount, limit]) => {
        fc.pre(!(typeof amount === 'number' && typeof limit === 'number' && amount <= limit));
        const permitted = {
          ...body,
          action: 'approve',
          subject: { id: 'alice', properties: { roles: ['finance_manager'], scope: 'invoice.write', region: 'EU', approval_limit: limit } },
          resource: { ...body.resource, type: 'invoice', properties: { region: 'EU', status: 'submitted', owner: 'bob', amount } },
          context: { mfa: true },
        };
        expect(await decide(app, permitted)).toBe('deny');
      }),
      { numRuns: 100 },
    );
  });
});
