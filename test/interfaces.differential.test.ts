import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { createLocalJWKSet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CacheSetup } from '../src/cache/from-config.js';
import { createJwtVerifier } from '../src/token/verify.js';
import { expectationOf, okBody } from './helpers/answers.js';
import { buildTestApp, defaultPolicyDir, postJson } from './helpers/app.js';
import { cacheFromEnv } from './helpers/cache.js';
import { runCli } from './helpers/cli.js';
import { tempDir, writeFiles } from './helpers/policy-dir.js';
import { jwks, makeKey, sign, testAudience, testIssuer, type SigningKey } from './helpers/tokens.js';
import { invoiceActions, invoiceClaims, invoiceProperties } from './oracle/arbitraries.js';

/**
 * One question asked through every interface that answers it: POST /decide with a stated
 * subject and with a token, POST /access/v1/evaluation, an item of POST /access/v1/evaluations
 * left partly to the batch's defaults, each with and without explain, through a decision cache
 * and without one, and offline through `pdp test` and `pdp check`; and the AuthZEN searches,
 * whose hits must be exactly the candidates an evaluation permits. Over the invoice policies
 * and entity data naming some of the subjects and invoices, which requests name by id, by
 * alias, in another case, or under another type.
 */

const entities = [
  {
    type: 'user',
    id: 'u-alice',
    aliases: ['alice@example.com'],
    properties: { roles: ['finance_manager'], scope: 'invoice.read invoice.write', region: 'EU', approval_limit: 1000 },
  },
  { type: 'user', id: 'u-bob', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'US' }, authoritative: ['roles'] },
  { type: 'user', id: 'u-sam', aliases: ['Sam@Example.com'], properties: { roles: ['sales_rep'], department: 'sales' } },
  {
    type: 'invoice',
    id: 'inv-7',
    aliases: ['INV-0007'],
    properties: { invoice_type: 'purchase', region: 'EU', status: 'submitted', amount: 500, owner: 'alice@example.com' },
  },
  { type: 'invoice', id: 'inv-8', properties: { invoice_type: 'sales', department: 'sales', status: 'draft', owner: 'u-sam' } },
  { type: 'invoice', id: 'inv-9', properties: { status: 'paid' } },
];

const idsOf = (type: string) => entities.filter((e) => e.type === type).map((e) => e.id);
const subjectNames = ['u-alice', 'alice@example.com', 'Alice@Example.com', 'u-bob', 'u-sam', 'sam@example.com', 'bob', 'inv-7'];
const resourceNames = ['inv-7', 'INV-0007', 'Inv-7', 'inv-8', 'inv-9', 'inv-1', 'u-alice'];

/** Claims that mean something beside the ones the policies read: another `sub`, an `iss`, `exp`, `aliases`, more `roles`. */
const otherClaims = fc.dictionary(
  fc.constantFrom('sub', 'iss', 'exp', 'aliases', 'roles'),
  fc.oneof(fc.constantFrom('u-alice', 'carol', testIssuer), fc.integer(), fc.constant(['finance_manager']), fc.constant({ roles: ['finance_manager'] })),
  { maxKeys: 2 },
);

interface Question {
  readonly subject: { readonly type: string; readonly id: string; readonly properties: Readonly<Record<string, unknown>> };
  readonly action: string;
  readonly resource: { readonly type: string; readonly id: string; readonly properties: Readonly<Record<string, unknown>> };
  readonly context?: Readonly<Record<string, unknown>>;
}

const questions: fc.Arbitrary<Question> = fc
  .record(
    {
      subject: fc.record({
        type: fc.constantFrom('user', 'user', 'user', 'User', 'invoice'),
        id: fc.constantFrom(...subjectNames),
        properties: fc.tuple(invoiceClaims, otherClaims).map(([claims, others]) => ({ ...claims, ...others })),
      }),
      action: invoiceActions,
      resource: fc.record({ type: fc.constantFrom('invoice', 'invoice', 'invoice', 'Invoice', 'user'), id: fc.constantFrom(...resourceNames), properties: invoiceProperties }),
      context: fc.record({ mfa: fc.boolean() }, { requiredKeys: [] }),
    },
    { requiredKeys: ['subject', 'action', 'resource'] },
  )
  // As JSON carries it (-0 as 0, NaN as null), which every interface reads alike.
  .map((question) => JSON.parse(JSON.stringify(question)) as Question);

const evaluation = (q: Question) => ({ subject: q.subject, action: { name: q.action }, resource: q.resource, ...(q.context !== undefined && { context: q.context }) });

/** What an interface answers: the decision and its reasons. */
interface Answered {
  readonly decision: string;
  readonly reasons: unknown;
}

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

const ok = async (app: App, path: string, body: unknown) => okBody(await postJson(app, path, body));

const fromAuthzen = (answer: Record<string, unknown>): Answered => ({
  decision: answer['decision'] === true ? 'permit' : 'deny',
  reasons: (answer['context'] as Record<string, unknown>)['reasons'],
});

async function viaDecide(app: App, body: unknown, query = ''): Promise<Answered> {
  const answer = await ok(app, `/decide${query}`, body);
  return { decision: answer['decision'] as string, reasons: answer['reasons'] };
}

async function viaEvaluation(app: App, q: Question, explain = false): Promise<Answered> {
  return fromAuthzen(await ok(app, '/access/v1/evaluation', { ...evaluation(q), ...(explain && { options: { explain } }) }));
}

/** The question as the middle of three items, its subject and action left to the batch's defaults, its context given (`{}` for none). */
async function viaBatch(app: App, q: Question, others: readonly [Question, Question], explain = false): Promise<Answered> {
  const { subject, action, resource, context } = evaluation(q);
  const answer = await ok(app, '/access/v1/evaluations', {
    subject,
    action,
    resource: { type: 'invoice', id: 'inv-default', properties: { region: 'EU', owner: 'someone', status: 'paid' } },
    context: { mfa: true },
    options: { include_reasons: true, explain },
    evaluations: [evaluation(others[0]), { resource, context: context ?? {} }, evaluation(others[1])],
  });
  return fromAuthzen((answer['evaluations'] as Record<string, unknown>[])[1] ?? {});
}

describe('one question through every interface, with entity data', () => {
  let dir: string;
  let key: SigningKey;
  let plain: App;
  let cached: App;
  let cache: CacheSetup;
  const asked: { question: Question; answer: Answered }[] = [];

  beforeAll(async () => {
    const made = await tempDir('pdp-interfaces-');
    dir = made.path;
    await copyFile(join(defaultPolicyDir, 'invoices.json'), join(dir, 'invoices.json'));
    await writeFiles(dir, { 'data/entities.json': { entities } });
    key = await makeKey('ES256');
    const tokens = createJwtVerifier({ keys: createLocalJWKSet(jwks([key])), issuer: testIssuer, audience: [testAudience], algorithms: ['ES256'] });
    ({ app: plain } = await buildTestApp({ policyDir: dir, tokens }));
    cache = await cacheFromEnv({ CACHE_MEMORY_ENTRIES: '10000' });
    ({ app: cached } = await buildTestApp({ policyDir: dir, cache: cache.cache }));
    return made.remove;
  });
  afterAll(async () => {
    await cache.close();
  });

  it('answers alike through /decide, a token, an evaluation and a batch item, cached or not, explained or not', async () => {
    let permits = 0;
    await fc.assert(
      fc.asyncProperty(questions, questions, questions, async (q, before, after) => {
        const expected = await viaDecide(plain, q);
        const seen: Record<string, Answered> = {
          evaluation: await viaEvaluation(plain, q),
          batch: await viaBatch(plain, q, [before, after]),
          cachedDecide: await viaDecide(cached, q),
          cachedEvaluation: await viaEvaluation(cached, q),
          cachedBatch: await viaBatch(cached, q, [before, after]),
          explainedDecide: await viaDecide(cached, q, '?explain=true'),
          explainedEvaluation: await viaEvaluation(cached, q, true),
          explainedBatch: await viaBatch(cached, q, [before, after], true),
        };
        // A token states the same claims, when they hold nothing a token's own would replace.
        const { properties } = q.subject;
        if (q.subject.type === 'user' && !['sub', 'iss', 'exp'].some((claim) => Object.hasOwn(properties, claim))) {
          const token = await sign(key, { ...properties, sub: q.subject.id });
          seen['token'] = await viaDecide(plain, { token, action: q.action, resource: q.resource, context: q.context });
        }
        for (const [where, answer] of Object.entries(seen)) expect(answer, `${where}: ${JSON.stringify(q)}`).toEqual(expected);
        if (expected.decision === 'permit') permits++;
        asked.push({ question: q, answer: expected });
      }),
      { numRuns: 400 },
    );
    // Permits are common enough for the agreement to mean something.
    expect(permits).toBeGreaterThan(20);
  }, 60_000);

  it('finds through each search, cached, exactly the candidates an evaluation permits', async () => {
    const permitted = async (body: unknown) => (await ok(plain, '/access/v1/evaluation', body))['decision'] === true;
    const actions = ['approve', 'create', 'delete', 'read', 'update'];
    let hits = 0;
    await fc.assert(
      fc.asyncProperty(questions, async (q) => {
        const { subject, action, resource, context } = evaluation(q);
        const given = context === undefined ? {} : { context };
        const users: { type: string; id: string }[] = [];
        for (const id of idsOf('user')) if (await permitted({ subject: { type: 'user', id }, action, resource, ...given })) users.push({ type: 'user', id });
        expect((await ok(cached, '/access/v1/search/subject', { subject: { type: 'user' }, action, resource, ...given }))['results']).toEqual(users);
        const invoices: { type: string; id: string }[] = [];
        for (const id of idsOf('invoice')) if (await permitted({ subject, action, resource: { type: 'invoice', id }, ...given })) invoices.push({ type: 'invoice', id });
        expect((await ok(cached, '/access/v1/search/resource', { subject, action, resource: { type: 'invoice' }, ...given }))['results']).toEqual(invoices);
        const names: { name: string }[] = [];
        for (const name of actions) if (await permitted({ subject, action: { name }, resource, ...given })) names.push({ name });
        expect((await ok(cached, '/access/v1/search/action', { subject, resource, ...given }))['results']).toEqual(names);
        hits += users.length + invoices.length + names.length;
      }),
      { numRuns: 150 },
    );
    expect(hits).toBeGreaterThan(20);
  });

  it('answers alike through pdp test, and through pdp check to the reason', async () => {
    expect(asked.length).toBeGreaterThan(0);
    const cases = asked.map(({ question, answer }, i) => ({ name: `question ${i}`, request: question, expect: expectationOf(answer) }));
    await writeFiles(dir, { 'tests/asked.json': { cases } });
    const tested = await runCli(['test', dir, '--json']);
    expect(tested.code, tested.stdout.slice(0, 2000)).toBe(0);
    for (const { question, answer } of asked.slice(0, 5)) {
      const checked = await runCli(['check', dir, '--request', '-', '--json'], { input: JSON.stringify(question) });
      expect(checked.code, checked.stderr).toBe(0);
      const verdict = JSON.parse(checked.stdout) as Record<string, unknown>;
      expect({ decision: verdict['decision'], reasons: verdict['reasons'] }, JSON.stringify(question)).toEqual(answer);
    }
  });
});
