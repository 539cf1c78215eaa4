import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { roleIndexFrom } from '../src/policy/compile.js';
import type { RuleTrace as Entry } from '../src/policy/evaluate.js';
import type { RuleSource } from '../src/policy/schema.js';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { cacheFromEnv } from './helpers/cache.js';
import { writeFiles } from './helpers/policy-dir.js';
import { tempDir } from './helpers/tmp.js';
import { invoiceDecideBody } from './oracle/arbitraries.js';

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

  it('leaves explain out when the token is refused: no rule was evaluated', async () => {
    const res = await postJson(app, '/decide?explain=true', { token: 'not-a-token', action: 'read', resource: selfApproval.resource });
    expect(res.status).toBe(200);
    const body = await readJson(res);
    expect(body).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token' }] });
    expect(body).not.toHaveProperty('explain');
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

  it('reads explain from a query of a megabyte (MAX_HEADER_BYTES allows such a target) in one pass', async () => {
    // A "%" (an encoded query) and a million "&": each parameter was read up to the query's end
    // for an "=", 8 s for one request with the event loop held.
    const filler = `%${'&'.repeat(1_000_000)}`;
    for (const [query, explained] of [[filler, false], [`${filler}explain=true`, true]] as const) {
      const started = performance.now();
      const res = await postJson(app, `/decide?${query}`, selfApproval);
      const took = performance.now() - started;
      expect(res.status).toBe(200);
      expect('explain' in (await readJson(res))).toBe(explained);
      expect(took).toBeLessThan(500);
    }
  });
});

describe('a condition that yields no bool at run time', () => {
  // `dyn` conditions pass the load's type check and yield whatever the request holds: the reason
  // and the trace name what came back as CEL types it, as `type(x)` would, not as JavaScript does.
  it.each([
    [null, 'null_type'],
    [['yes'], 'list'],
    [{ a: 1 }, 'map'],
    [1, 'double'],
    ['yes', 'string'],
  ])('names %j as a %s', async (flag, type) => {
    const dir = await tempDir({ 'docs.json': { id: 'docs', resource: 'doc', rules: [{ id: 'flagged', effect: 'permit', actions: ['read'], condition: 'resource.properties.flag' }] } });
    const { app } = await buildTestApp({ policyDir: dir });
    const body = { subject: { id: 'u1' }, action: 'read', resource: { type: 'doc', id: 'd1', properties: { flag } } };
    const detail = `condition returned ${type}, not a bool`;
    const answer = await readJson(await postJson(app, '/decide?explain=true', body));
    expect(answer).toMatchObject({ decision: 'deny', reasons: [{ code: 'no_applicable_rule' }, { code: 'condition_error', rule: 'flagged', detail }] });
    expect((answer['explain'] as Entry[])[0]?.condition).toEqual({ expression: 'resource.properties.flag', error: detail });
  });
});

/** Reasons that deny before any rule is read: the trace then shows the checks, none applied, no condition evaluated. */
const untriedCodes = ['action_case_mismatch', 'entity_case_mismatch', 'limit_exceeded'];

/**
 * Each entry's `applied` follows from its checks (a condition error applies a deny, never a
 * permit), a condition is evaluated exactly when the action, roles and scopes match, and the
 * rules the trace marks applying are the answer's deciding reasons: its applying denies, or
 * without any its applying permits, in trace order; its condition errors likewise, those of
 * permits a deny overrides left out.
 */
function expectTraceAgrees(answer: Record<string, unknown>, trace: readonly Entry[], what: string): void {
  const reasons = answer['reasons'] as Record<string, unknown>[];
  const codes = reasons.flatMap((r) => ('code' in r ? [r['code']] : []));
  const untried = codes.some((code) => untriedCodes.includes(code as string));
  // Gathered and asserted once: an expect per entry cost more than the requests themselves.
  const disagreements: string[] = [];
  for (const entry of trace) {
    const checked = entry.action && entry.roles !== false && entry.scopes !== false;
    const evaluated = entry.condition !== null && ('value' in entry.condition || 'error' in entry.condition);
    if (untried) {
      if (entry.applied) disagreements.push(`${entry.rule} applied, though no rule was tried`);
      if (evaluated) disagreements.push(`${entry.rule} condition evaluated, though no rule was tried`);
      continue;
    }
    if (entry.condition !== null && evaluated !== checked) disagreements.push(`${entry.rule} condition evaluated ${evaluated}, checks held ${checked}`);
    const holds = entry.condition === null || entry.condition.value === true || (entry.condition.error !== undefined && entry.effect === 'deny');
    if (entry.applied !== (checked && holds)) disagreements.push(`${entry.rule} applied ${entry.applied}, checks held ${checked}, condition held ${holds}`);
  }
  expect(disagreements, what).toEqual([]);
  const applied = (effect: string) => trace.filter((e) => e.applied && e.effect === effect).map((e) => ({ policy: e.policy, rule: e.rule, effect: e.effect }));
  const denies = applied('deny');
  const deciding = denies.length > 0 ? denies : applied('permit');
  expect(reasons.filter((r) => 'effect' in r), what).toEqual(deciding);
  expect(answer['decision'], what).toBe(!untried && denies.length === 0 && deciding.length > 0 ? 'permit' : 'deny');
  if (!untried) {
    const errored = trace.filter((e) => e.condition?.error !== undefined && (e.effect === 'deny' || denies.length === 0)).map((e) => e.rule);
    expect(reasons.filter((r) => r['code'] === 'condition_error').map((r) => r['rule']), what).toEqual(errored);
  }
  const advised = (answer['advice'] as Record<string, unknown>[]).map((a) => a['rule']);
  expect(advised.every((rule) => deciding.some((d) => d.rule === rule)), what).toBe(true);
}

const roles = ['clerk', 'auditor', 'manager', 'admin', 'guest'];
// Some throw where an attribute is missing (a permit that does not apply, a deny that does).
const conditions = [
  'resource.properties.flag == true',
  'context.amount > 100.0',
  'subject.properties.level >= 2.0',
  'resource.properties.flag == true && context.amount > 100.0',
  'resource.properties.flag == true || subject.properties.level >= 2.0',
  'type(resource.properties.owner) == string && (resource.properties.owner == subject.id || resource.properties.owner in subject.aliases)',
  // Reads now: never cached, decided afresh each time as an explained one is.
  'now.getFullYear() > 2000 && context.amount < 50.0',
  'subject.type == "user" || subject.id in ["u2"]',
];

const ruleArb = fc.record({
  effect: fc.constantFrom('permit' as const, 'deny' as const),
  actions: fc.constantFrom<string[]>(['read'], ['write'], ['read', 'write'], ['*'], ['approve']),
  roles: fc.option(fc.uniqueArray(fc.constantFrom(...roles), { minLength: 1, maxLength: 3 }), { nil: undefined }),
  scopes: fc.option(fc.constantFrom<string[]>(['doc.read'], ['doc.read', 'doc.write']), { nil: undefined }),
  condition: fc.option(fc.constantFrom(...conditions), { nil: undefined }),
  advice: fc.option(fc.constant({ contact: 'desk' }), { nil: undefined }),
}, { requiredKeys: ['effect', 'actions'] });

// Two policies for one type, long enough together for each action's list to be read through a role index.
const policiesArb = fc.tuple(
  fc.array(ruleArb, { minLength: 2 * roleIndexFrom, maxLength: 3 * roleIndexFrom }),
  fc.array(ruleArb, { minLength: roleIndexFrom, maxLength: 2 * roleIndexFrom }),
);

const entities = {
  entities: [
    { type: 'user', id: 'u1', aliases: ['one@example.com'], properties: { roles: ['manager'], scope: 'doc.read', level: 3 } },
    { type: 'doc', id: 'd1', properties: { flag: true, owner: 'one@example.com' } },
  ],
};

const requestArb = fc.record({
  subject: fc.record({
    type: fc.constantFrom('user', 'User', 'service'),
    id: fc.constantFrom('u1', 'U1', 'one@example.com', 'u2'),
    properties: fc.record({
      roles: fc.subarray([...roles, 'visitor']),
      // The last: more scopes than conditions are costed for, denied before any rule is read.
      scope: fc.constantFrom('doc.read', 'doc.read doc.write', '', Array.from({ length: 1001 }, (_, i) => `s${i}`).join(' ')),
      level: fc.integer({ min: 0, max: 3 }),
    }, { requiredKeys: [] }),
  }),
  action: fc.constantFrom('read', 'write', 'approve', 'Read', 'WRITE', 'shred'),
  resource: fc.record({
    type: fc.constant('doc'),
    id: fc.constantFrom('d1', 'D1', 'd2'),
    properties: fc.record({ flag: fc.boolean(), owner: fc.constantFrom('u1', 'u2', 'one@example.com') }, { requiredKeys: [] }),
  }, { requiredKeys: ['type'] }),
  context: fc.record({ amount: fc.integer({ min: 0, max: 200 }) }, { requiredKeys: [] }),
});

async function decide(app: App, body: unknown, query = ''): Promise<Record<string, unknown>> {
  const res = await postJson(app, `/decide${query}`, body);
  const answer = await readJson(res);
  expect(res.status, JSON.stringify(answer)).toBe(200);
  return answer;
}

/**
 * Asks plainly (twice, so the second may come from the cache), with `?explain=true`, and as an
 * AuthZEN evaluation with `options.explain`: the same decision, reasons and advice each time,
 * and a trace that agrees with them; with `order`, the trace's rules in that order.
 */
async function expectAgreement(app: App, body: Record<string, unknown>, order: readonly string[] | undefined): Promise<void> {
  const what = JSON.stringify(body);
  const plain = await decide(app, body);
  const again = await decide(app, body);
  const explained = await decide(app, body, '?explain=true');
  const trace = explained['explain'] as Entry[];
  expect(explained, what).not.toHaveProperty('cached');
  for (const answer of [plain, again, explained]) {
    expect(answer['decision'], what).toBe(explained['decision']);
    expect(answer['reasons'], what).toEqual(explained['reasons']);
    expect(answer['advice'], what).toEqual(explained['advice']);
  }
  if (order !== undefined) expect(trace.map((e) => e.rule), what).toEqual(order);
  expectTraceAgrees(explained, trace, what);
  const subject = body['subject'] as Record<string, unknown>;
  const evaluation = {
    subject: { type: subject['type'] ?? 'user', ...subject },
    action: { name: body['action'] },
    resource: { id: 'x', ...(body['resource'] as object) },
    ...(body['context'] !== undefined && { context: body['context'] }),
    options: { explain: true },
  };
  const res = await postJson(app, '/access/v1/evaluation', evaluation);
  const authzen = await readJson(res);
  expect(res.status, JSON.stringify(authzen)).toBe(200);
  const context = authzen['context'] as Record<string, unknown>;
  const rules = (context['explain'] as { rules: Entry[] }).rules;
  expectTraceAgrees({ decision: authzen['decision'] === true ? 'permit' : 'deny', reasons: context['reasons'], advice: context['advice'] ?? [] }, rules, `authzen ${what}`);
}

describe('explain agrees with the answer it explains', () => {
  it('over the shipped policies, with a decision cache', async () => {
    const { cache } = await cacheFromEnv({ CACHE_MEMORY_ENTRIES: '1000' });
    const { app } = await buildTestApp({ cache });
    await fc.assert(
      fc.asyncProperty(invoiceDecideBody, async (body) => {
        await expectAgreement(app, JSON.parse(JSON.stringify(body)) as Record<string, unknown>, undefined);
      }),
      { numRuns: 300 },
    );
  });

  it('over two generated policies for one type read through the role index, "*" rules and entity data, with a decision cache', async () => {
    await fc.assert(
      fc.asyncProperty(policiesArb, fc.array(requestArb, { minLength: 20, maxLength: 40 }), async ([first, second], requests) => {
        const named = (drafts: typeof first, prefix: string): RuleSource[] => drafts.map((draft, i) => ({ id: `${prefix}${i}`, ...draft }));
        const a = named(first, 'a');
        const b = named(second, 'b');
        const dir = await tempDir();
        await writeFiles(dir, {
          // Named against their ids' order: the trace follows policy ids, not file names.
          'a.json': { id: 'zeta', resource: 'doc', rules: a },
          'b.json': { id: 'alpha', resource: 'doc', rules: b },
          'c.json': { id: 'notes', resource: 'note', rules: [{ id: 'n1', effect: 'permit', actions: ['*'] }] },
          'data/entities.json': entities,
        });
        const { cache } = await cacheFromEnv({ CACHE_MEMORY_ENTRIES: '1000' });
        const { app } = await buildTestApp({ policyDir: dir, cache });
        const ids = (rules: readonly RuleSource[], effect: string) => rules.filter((r) => r.effect === effect).map((r) => r.id);
        // Denies first, then by policy id, each policy's rules as written.
        const order = [...ids(b, 'deny'), ...ids(a, 'deny'), ...ids(b, 'permit'), ...ids(a, 'permit')];
        for (const request of requests) await expectAgreement(app, request, order);
      }),
      // Each run asks 20 to 40 questions four ways of a policy set of its own. Rules the role index
      // read twice or left out, a trace marking a rule applied or its condition run against its
      // checks, and condition errors of overridden permits each failed by the fourth run for
      // most seeds tried and by the tenth for all (6 each); 25 runs cost 2.5 times as much.
      { numRuns: 10 },
    );
  }, 120_000);
});
