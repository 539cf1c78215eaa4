import { beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { auditEntries, buildObservedApp } from './helpers/telemetry.js';
import { tempDir } from './helpers/tmp.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

const accountant = { id: 'acc-1', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } };
const nobody = { id: 'nobody', properties: {} };
const readEU = { action: 'read', resource: { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'EU' } } };
const manager = { id: 'fm-1', properties: { roles: ['finance_manager'], scope: 'invoice.write', region: 'EU', approval_limit: 10000 } };
const approvable = { type: 'invoice', id: 'inv-2', properties: { region: 'EU', status: 'submitted', amount: 10, owner: 'someone' } };

describe('POST /decide: request ids', () => {
  let app: App;
  beforeAll(async () => {
    ({ app } = await buildTestApp());
  });

  it.each(['req-123', 'a'.repeat(1024), 'trace:abc/def+1=2@x.y_z', 'req 1', '<script>alert(1)</script>', 'a";b'])('echoes an X-Request-ID verbatim (%s)', async (id) => {
    const res = await postJson(app, '/decide', { subject: accountant, ...readEU }, { 'x-request-id': id });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe(id);
  });

  it('echoes a safe id in problem bodies too', async () => {
    const res = await postJson(app, '/decide', '{', { 'x-request-id': 'req-bad-json' });
    expect(res.headers.get('x-request-id')).toBe('req-bad-json');
    expect((await readJson(res)).requestId).toBe('req-bad-json');
  });

  it.each([
    ['too long', 'a'.repeat(1025)],
    ['not ASCII', 'id\u00e9'],
    ['with a control character', 'a\u0001b'],
    ['empty', ''],
  ])('replaces an unsafe X-Request-ID (%s) with a fresh one', async (_, id) => {
    const res = await postJson(app, '/decide', '{', { 'x-request-id': id });
    const given = res.headers.get('x-request-id');
    expect(given).not.toBe(id);
    expect(given).toMatch(/^[0-9a-f-]{36}$/);
    expect((await readJson(res)).requestId).toBe(given);
  });

  it('makes a fresh id per request when none is given', async () => {
    const a = await postJson(app, '/decide', { subject: accountant, ...readEU });
    const b = await postJson(app, '/decide', { subject: accountant, ...readEU });
    expect(a.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.headers.get('x-request-id')).not.toBe(b.headers.get('x-request-id'));
  });
});

describe('POST /decide: action names in another case', () => {
  const admin = { id: 'adm-1', properties: { scope: 'invoice.admin' } };
  let app: App;
  beforeAll(async () => {
    ({ app } = await buildTestApp());
  });

  it('never lets a "*" rule decide an action the rules name in another case: "Approve" does not skip the deny rules on "approve"', async () => {
    // D3 denies an approval without MFA; P1 permits invoice.admin every action ("*").
    const exact = await readJson(await postJson(app, '/decide', { subject: admin, action: 'approve', resource: approvable }));
    expect(exact).toMatchObject({ decision: 'deny', reasons: [{ rule: 'D3-approve-requires-mfa' }] });
    for (const action of ['Approve', 'APPROVE']) {
      const body = await readJson(await postJson(app, '/decide', { subject: admin, action, resource: approvable }));
      expect(body).toMatchObject({
        decision: 'deny',
        reasons: [{ code: 'action_case_mismatch', detail: `the policies for "invoice" name the action "approve", not "${action}": action names are case-sensitive` }],
        advice: [],
      });
    }
    // An action no rule names in any case is still the "*" rules' to decide.
    expect((await readJson(await postJson(app, '/decide', { subject: admin, action: 'archive', resource: approvable }))).decision).toBe('permit');
  });

  it.each([
    ['approve ', 'a trailing space'],
    [' approve', 'a leading space'],
    ['approve\t', 'a tab'],
    ['appro ve', 'a space within'],
    ['approve\u200b', 'a zero-width space'],
    ['approve\u00ad', 'a soft hyphen'],
    ['\u200eapprove', 'a direction mark'],
    ['approve\u3000', 'an ideographic space'],
    ['approve\u3164', 'a Hangul filler, invisible though a letter'],
  ])('never lets a "*" rule decide the action the rules name with whitespace or an invisible character added (%j: %s)', async (action) => {
    const body = await readJson(await postJson(app, '/decide', { subject: admin, action, resource: approvable }));
    expect(body).toMatchObject({ decision: 'deny', reasons: [{ code: 'action_case_mismatch' }] });
    const evaluation = await readJson(await postJson(app, '/access/v1/evaluation', { subject: { type: 'user', ...admin }, action: { name: action }, resource: approvable }));
    expect(evaluation).toMatchObject({ decision: false, context: { reasons: [{ code: 'action_case_mismatch' }] } });
  });

  it('says the same in AuthZEN and in explain', async () => {
    const evaluation = await readJson(await postJson(app, '/access/v1/evaluation', { subject: { type: 'user', ...admin }, action: { name: 'Approve' }, resource: approvable }));
    expect(evaluation).toMatchObject({ decision: false, context: { reasons: [{ code: 'action_case_mismatch' }] } });
    const explained = await readJson(await postJson(app, '/decide?explain=true', { subject: admin, action: 'Approve', resource: approvable }));
    expect(explained).toMatchObject({ decision: 'deny', reasons: [{ code: 'action_case_mismatch' }] });
    // Every rule of the type, none applied and no condition evaluated: before, an empty list.
    const explain = explained.explain as { rule: string; applied: boolean; action: boolean; condition: Record<string, unknown> | null }[];
    expect(explain).toHaveLength(9);
    expect(explain.every((entry) => !entry.applied && (entry.condition === null || !('value' in entry.condition)))).toBe(true);
    expect(explain.filter((entry) => entry.action).map((entry) => entry.rule)).toEqual(['P1-admin-scope']);
  });
});

describe('POST /decide: action names that differ only in letters lower-casing leaves alone, or in their form', () => {
  const docs = {
    id: 'docs',
    resource: 'doc',
    rules: [
      { id: 'admin-any', effect: 'permit', actions: ['*'], scopes: ['doc.admin'] },
      { id: 'approved-only', effect: 'deny', actions: ['share', 'issue', 'file', 'grüßen', 'αι'], condition: '!(has(context.approved) && context.approved == true)' },
    ],
  };
  const admin = { id: 'adm-1', properties: { scope: 'doc.admin' } };
  let app: App;
  beforeAll(async () => {
    ({ app } = await buildTestApp({ policyDir: await tempDir({ 'docs.json': docs }) }));
  });

  it.each([
    ['ſhare', 'share', 'a long s'],
    ['ıssue', 'issue', 'a dotless i'],
    ['İssue', 'issue', 'a dotted capital I'],
    ['ﬁle', 'file', 'a ligature'],
    ['ｓｈａｒｅ', 'share', 'full-width letters'],
    ['grüẞen', 'grüßen', 'a capital sharp s'],
    ['GRÜSSEN', 'grüßen', 'ss for ß'],
    ['ᾳ', 'αι', 'an iota subscript'],
  ])('denies "%s" as "%s" in another case (%s), not as an action of the "*" rules', async (action, named) => {
    const decide = async (name: string) => readJson(await postJson(app, '/decide', { subject: admin, action: name, resource: { type: 'doc' } }));
    expect(await decide(named)).toMatchObject({ decision: 'deny', reasons: [{ rule: 'approved-only' }] });
    expect(await decide(action)).toMatchObject({
      decision: 'deny',
      reasons: [{ code: 'action_case_mismatch', detail: `the policies for "doc" name the action "${named}", not "${action}": action names are case-sensitive` }],
    });
  });
});

describe('POST /decide: hostile or odd bodies', () => {
  let app: App;
  beforeAll(async () => {
    ({ app } = await buildTestApp());
  });

  async function decide(body: unknown) {
    const res = await postJson(app, '/decide', body);
    expect(res.status).toBe(200);
    return readJson(res);
  }

  it('ignores unknown extra fields at every level', async () => {
    const body = await decide({
      subject: { ...accountant, extra: 1 },
      action: 'read',
      resource: { ...readEU.resource, owner: 'x' },
      explainMe: true,
      decision: 'permit',
    });
    expect(body).toMatchObject({ decision: 'permit', reasons: [{ rule: 'P2-finance-read-own-region' }] });
    expect(body).not.toHaveProperty('explainMe');
  });

  it('a client cannot inject a decision or reasons', async () => {
    const body = await decide({ subject: nobody, ...readEU, decision: 'permit', reasons: [{ rule: 'P1-admin-scope' }], advice: [{ rule: 'P1-admin-scope' }] });
    expect(body).toMatchObject({ decision: 'deny', reasons: [{ code: 'no_applicable_rule', detail: 'no rule permits "read" on "invoice"' }], advice: [] });
  });

  it.each([
    ['__proto__', (payload: string) => `{"__proto__": ${payload}}`],
    ['constructor', (payload: string) => `{"constructor": {"prototype": ${payload}}}`],
  ])('%s keys in subject properties never grant roles or scopes', async (_, wrap) => {
    const grant = '{"roles": ["accountant"], "scope": "invoice.admin invoice.read", "region": "EU"}';
    const raw = `{"subject": {"id": "mallory", "properties": ${wrap(grant)}}, "action": "delete",
      "resource": {"type": "invoice", "properties": {"region": "EU", "status": "draft"}}}`;
    const body = await decide(raw);
    expect(body.decision).toBe('deny');
    expect(({} as Record<string, unknown>)['scope']).toBeUndefined();
    expect(({} as Record<string, unknown>)['roles']).toBeUndefined();
  });

  it('__proto__ in resource properties does not stand in for a missing attribute', async () => {
    const raw = `{"subject": ${JSON.stringify(accountant)}, "action": "read",
      "resource": {"type": "invoice", "properties": {"__proto__": {"region": "EU"}}}}`;
    const body = await decide(raw);
    expect(body.decision).toBe('deny');
  });

  it('__proto__ in context does not satisfy the MFA rule', async () => {
    const raw = `{"subject": ${JSON.stringify(manager)}, "action": "approve", "resource": ${JSON.stringify(approvable)},
      "context": {"__proto__": {"mfa": true}}}`;
    const body = await decide(raw);
    expect(body).toMatchObject({ decision: 'deny', advice: [{ advice: { step_up: 'mfa' } }] });
    const withMfa = await decide({ subject: manager, action: 'approve', resource: approvable, context: { mfa: true } });
    expect(withMfa.decision).toBe('permit');
  });

  it('an attribute named "constructor" is data like any other, read by conditions without error', async () => {
    const read = await decide({ subject: accountant, action: 'read', resource: { type: 'invoice', properties: { region: 'EU', constructor: 'x' } } });
    expect(read).toMatchObject({ decision: 'permit', reasons: [{ rule: 'P2-finance-read-own-region' }] });
    const otherRegion = await decide({ subject: accountant, action: 'read', resource: { type: 'invoice', properties: { region: 'US', constructor: { region: 'EU' } } } });
    expect(otherRegion).toMatchObject({ decision: 'deny', reasons: [{ code: 'no_applicable_rule' }] });
    const approved = await decide({ subject: manager, action: 'approve', resource: approvable, context: { constructor: 1, mfa: true } });
    expect(approved).toMatchObject({ decision: 'permit', reasons: [{ rule: 'P4-manager-approve-within-limit' }] });
    const noMfa = await decide({ subject: manager, action: 'approve', resource: approvable, context: { constructor: { mfa: true } } });
    expect(noMfa).toMatchObject({ decision: 'deny', reasons: [{ rule: 'D3-approve-requires-mfa' }] });
    expect(JSON.stringify(noMfa.reasons)).not.toContain('condition_error');
  });

  it.each([null, 'x', 0, false, [], {}].map((value) => ({ value })))('a "constructor" attribute holding $value does not turn a deny rule off', async ({ value }) => {
    const update = await decide({ subject: manager, action: 'update', resource: { type: 'invoice', properties: { region: 'EU', invoice_type: 'purchase', status: 'draft', constructor: value } } });
    expect(update).toMatchObject({ decision: 'permit', reasons: [{ rule: 'P3-finance-write-own-region' }] });
    const paid = await decide({ subject: manager, action: 'update', resource: { type: 'invoice', properties: { region: 'EU', invoice_type: 'purchase', status: 'paid', constructor: value } } });
    expect(paid).toMatchObject({ decision: 'deny', reasons: [{ rule: 'D2-paid-is-immutable' }] });
    expect(JSON.stringify([update, paid])).not.toContain('condition_error');
  });

  it('Object.prototype is never polluted by a request', async () => {
    await decide('{"subject": {"id": "x", "properties": {"__proto__": {"polluted": true}}}, "action": "read", "resource": {"type": "invoice", "properties": {"__proto__": {"polluted": true}}}, "context": {"__proto__": {"polluted": true}}}');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('a resource type with a prototype name is just unknown', async () => {
    for (const type of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      const body = await decide({ subject: accountant, action: 'read', resource: { type } });
      expect(body.reasons, type).toEqual([expect.objectContaining({ code: 'unknown_resource_type' })]);
    }
  });

  it('an action with a prototype name matches no rule', async () => {
    for (const action of ['__proto__', 'constructor', 'toString']) {
      const body = await decide({ subject: accountant, action, resource: readEU.resource });
      expect(body, action).toMatchObject({ decision: 'deny', reasons: [{ code: 'no_applicable_rule', detail: `no rule permits "${action}" on "invoice"` }] });
    }
  });

  it('a limit sent as a string never permits (strings compare as text: "1e9" <= "5000" would hold)', async () => {
    const body = await decide({
      subject: { ...manager, properties: { ...manager.properties, approval_limit: '1e9' } },
      action: 'approve',
      resource: approvable,
      context: { mfa: true },
    });
    expect(body.decision).toBe('deny');
    expect(body.reasons).toEqual([expect.objectContaining({ code: 'no_applicable_rule' })]);
  });

  it.each([
    ['read', { roles: ['accountant'], scope: 'invoice.read', region: null }, { invoice_type: 'purchase', region: null }],
    ['approve', { ...manager.properties, region: null }, { ...approvable.properties, region: null }],
    ['read', { roles: ['sales_rep'], scope: 'invoice.read', department: null }, { invoice_type: 'sales', department: null }],
    ['create', { roles: ['sales_rep'], scope: 'invoice.write', department: null }, { invoice_type: 'sales', department: null, status: 'draft' }],
  ])('a region or department that is null on both sides is no match (%s)', async (action, claims, properties) => {
    const body = await decide({ subject: { id: 'u-null', properties: claims }, action, resource: { type: 'invoice', id: 'inv-n', properties: { owner: 'someone', ...properties } }, context: { mfa: true } });
    expect(body.decision).toBe('deny');
    expect(body.reasons).toEqual([expect.objectContaining({ code: 'no_applicable_rule' })]);
  });

  it('deeply nested context is answered, not crashed on', async () => {
    const deep = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
    const res = await postJson(app, '/decide', `{"subject": ${JSON.stringify(accountant)}, "action": "read", "resource": ${JSON.stringify(readEU.resource)}, "context": ${deep}}`);
    expect(res.status).toBe(400);
    expect(await readJson(res)).toMatchObject({ type: 'urn:invoice-pdp:problem:limit_exceeded', errors: [{ path: `$.context${'.a'.repeat(63)}`, message: 'nested deeper than 64 levels' }] });
  });

  it('a token request without any configured key set is denied, not an error', async () => {
    const body = await decide({ token: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', ...readEU });
    expect(body).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'no token verification is configured' }] });
  });
});

describe('a member named __proto__ in a free-form map: data, as JSON.parse reads it', () => {
  // Written as JSON text: in a JavaScript literal `__proto__` would set the prototype.
  const rules = [
    '{"id": "locked", "effect": "deny", "actions": ["read"], "condition": "resource.properties.locked == true", "advice": {"__proto__": {"step_up": "mfa"}, "x": 1}}',
    '{"id": "proto-context", "effect": "permit", "actions": ["read"], "condition": "context[\\"__proto__\\"].polluted == 1"}',
  ];
  let observed: Awaited<ReturnType<typeof buildObservedApp>>;
  beforeAll(async () => {
    observed = await buildObservedApp({ policyDir: await tempDir({ 'docs.json': `{"id": "docs", "resource": "doc", "rules": [${rules.join(', ')}]}` }) });
  });

  it('is kept in a rule\'s advice, in every answer the rule decides', async () => {
    const body = await readJson(await postJson(observed.app, '/decide', { subject: { id: 'u1' }, action: 'read', resource: { type: 'doc', properties: { locked: true } } }));
    expect(JSON.stringify(body['advice'])).toBe('[{"policy":"docs","rule":"locked","advice":{"__proto__":{"step_up":"mfa"},"x":1}}]');
  });

  it('is read by conditions from a request\'s context alike in /decide, an AuthZEN evaluation and a batch item, and written to the audit line; never a prototype', async () => {
    const context = '{"__proto__": {"polluted": 1}}';
    const resource = '{"type": "doc", "id": "d1", "properties": {"locked": false}}';
    const tuple = `"subject": {"type": "user", "id": "u1"}, "action": {"name": "read"}, "resource": ${resource}`;
    const answers = [
      await readJson(await postJson(observed.app, '/decide', `{"subject": {"id": "u1"}, "action": "read", "resource": ${resource}, "context": ${context}}`)),
      await readJson(await postJson(observed.app, '/access/v1/evaluation', `{${tuple}, "context": ${context}}`)),
      await readJson(await postJson(observed.app, '/access/v1/evaluations', `{${tuple}, "evaluations": [{"context": ${context}}]}`)),
    ];
    expect(answers.map((answer) => answer['decision'] ?? (answer['evaluations'] as Record<string, unknown>[] | undefined)?.[0]?.['decision'])).toEqual(['permit', true, true]);
    const lines = await auditEntries(observed.sink);
    expect(lines.slice(-3).map((line) => JSON.stringify(line['context']))).toEqual(Array(3).fill('{"__proto__":{"polluted":1}}'));
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});
