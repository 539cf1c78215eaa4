import { beforeAll, describe, expect, it } from 'vitest';
import type { Query, Verdict } from '../src/decision/types.js';
import type { CompiledPolicySet } from '../src/policy/compiled.js';
import { evaluate, type RuleTrace } from '../src/policy/evaluate.js';
import { loadPolicyDir } from '../src/policy/load.js';
import { tempDir } from './helpers/tmp.js';

/** A small policy set exercising each part of rule matching and the decision algorithm. */
const docs = {
  id: 'docs',
  resource: 'doc',
  rules: [
    { id: 'read-any', effect: 'permit', actions: ['read'], roles: ['reader', 'editor'] },
    { id: 'write-scoped', effect: 'permit', actions: ['write'], scopes: ['docs.write', 'docs.read'] },
    { id: 'admin-all', effect: 'permit', actions: ['*'], roles: ['admin'] },
    { id: 'no-secret', effect: 'deny', actions: ['*'], condition: 'has(resource.properties.secret) && resource.properties.secret == true' },
    { id: 'limit', effect: 'permit', actions: ['spend'], condition: 'resource.properties.amount <= subject.properties.limit' },
    { id: 'frozen', effect: 'deny', actions: ['spend'], condition: 'context.frozen', advice: { contact: 'treasury' } },
    { id: 'dyn-result', effect: 'permit', actions: ['peek'], condition: 'resource.properties.flag' },
    { id: 'before-2030', effect: 'permit', actions: ['archive'], condition: 'now < timestamp("2030-01-01T00:00:00Z")' },
    { id: 'weekday', effect: 'deny', actions: ['archive'], condition: 'now.getDayOfWeek() == 0', advice: { retry: 'monday' } },
    { id: 'mfa', effect: 'deny', actions: ['publish'], condition: '!(has(context.mfa) && context.mfa == true)', advice: { step_up: 'mfa' } },
    { id: 'publish', effect: 'permit', actions: ['publish'], roles: ['editor'] },
  ],
};

const notes = { id: 'notes', resource: 'note', rules: [{ id: 'open', effect: 'permit', actions: ['*'] }] };

interface QueryInput {
  readonly roles?: readonly string[];
  readonly scopes?: readonly string[];
  readonly subject?: Record<string, unknown>;
  readonly action: string;
  readonly type?: string;
  readonly resource?: Record<string, unknown>;
  readonly context?: Record<string, unknown>;
}

function query(input: QueryInput): Query {
  return {
    subject: { type: 'user', id: 'u1', roles: input.roles ?? [], scopes: input.scopes ?? [], aliases: [], properties: input.subject ?? {} },
    action: { name: input.action, properties: {} },
    resource: { type: input.type ?? 'doc', id: 'd1', properties: input.resource ?? {} },
    context: input.context ?? {},
  };
}

const monday = new Date('2026-03-02T12:00:00Z');
const sunday = new Date('2026-03-01T12:00:00Z');

const ruleReason = (rule: string, effect: 'permit' | 'deny', policy = 'docs') => ({ policy, rule, effect });

describe('evaluate: rule matching and the decision algorithm', () => {
  let set: CompiledPolicySet;
  const decide = (input: QueryInput, now = monday): Verdict => evaluate(set, query(input), now);

  beforeAll(async () => {
    set = await loadPolicyDir(await tempDir({ 'docs.json': docs, 'notes.json': notes }));
  });

  it.each([
    ['no rule names the action', { action: 'shred', roles: ['reader'] }],
    ['the action matches but no role is held', { action: 'read', roles: ['guest'] }],
    ['no subject attributes at all', { action: 'read' }],
  ])('denies by default when %s', (_, input) => {
    expect(decide(input)).toEqual({
      decision: 'deny',
      reasons: [{ code: 'no_applicable_rule', detail: expect.stringContaining(`"${input.action}" on "doc"`) }],
      advice: [],
    });
  });

  it('roles are any-of: either listed role is enough', () => {
    expect(decide({ action: 'read', roles: ['reader'] }).decision).toBe('permit');
    expect(decide({ action: 'read', roles: ['guest', 'editor'] }).reasons).toEqual([ruleReason('read-any', 'permit')]);
  });

  it('scopes are all-of: every listed scope is needed', () => {
    expect(decide({ action: 'write', scopes: ['docs.write', 'docs.read'] }).reasons).toEqual([ruleReason('write-scoped', 'permit')]);
    expect(decide({ action: 'write', scopes: ['docs.write'] }).decision).toBe('deny');
    expect(decide({ action: 'write', scopes: ['docs.read', 'other'] }).decision).toBe('deny');
  });

  it('"*" matches every action, including ones no rule names', () => {
    expect(decide({ action: 'shred', roles: ['admin'] }).reasons).toEqual([ruleReason('admin-all', 'permit')]);
    expect(decide({ action: 'read', roles: ['admin'] }).reasons).toEqual([ruleReason('admin-all', 'permit')]);
  });

  it('a deny that applies overrides every permit that applies', () => {
    const verdict = decide({ action: 'read', roles: ['admin', 'reader'], resource: { secret: true } });
    expect(verdict).toEqual({ decision: 'deny', reasons: [ruleReason('no-secret', 'deny')], advice: [] });
  });

  it('lists every permit rule that applied', () => {
    expect(decide({ action: 'read', roles: ['admin', 'reader'], resource: { secret: false } }).reasons).toEqual([
      ruleReason('read-any', 'permit'),
      ruleReason('admin-all', 'permit'),
    ]);
  });

  it('conditions compare JSON numbers as doubles', () => {
    expect(decide({ action: 'spend', subject: { limit: 100 }, resource: { amount: 100 }, context: { frozen: false } }).decision).toBe('permit');
    expect(decide({ action: 'spend', subject: { limit: 100 }, resource: { amount: 100.5 }, context: { frozen: false } }).decision).toBe('deny');
  });

  it('a deny carries its advice; a permit does not carry deny advice', () => {
    const denied = decide({ action: 'spend', subject: { limit: 100 }, resource: { amount: 1 }, context: { frozen: true } });
    expect(denied).toEqual({
      decision: 'deny',
      reasons: [ruleReason('frozen', 'deny')],
      advice: [{ policy: 'docs', rule: 'frozen', advice: { contact: 'treasury' } }],
    });
    const permitted = decide({ action: 'publish', roles: ['editor'], context: { mfa: true } });
    expect(permitted).toEqual({ decision: 'permit', reasons: [ruleReason('publish', 'permit')], advice: [] });
    expect(decide({ action: 'publish', roles: ['editor'], context: { mfa: false } }).advice).toEqual([
      { policy: 'docs', rule: 'mfa', advice: { step_up: 'mfa' } },
    ]);
  });

  it('a runtime condition error makes a permit rule not apply, and names policy and rule', () => {
    const verdict = decide({ action: 'spend', subject: {}, resource: { amount: 1 }, context: { frozen: false } });
    expect(verdict.decision).toBe('deny');
    expect(verdict.reasons).toEqual([
      { code: 'no_applicable_rule', detail: expect.any(String) },
      { code: 'condition_error', policy: 'docs', rule: 'limit', detail: expect.stringContaining('limit') },
    ]);
  });

  it('a runtime condition error makes a deny rule apply (fail closed), even over a permit', () => {
    const verdict = decide({ action: 'spend', subject: { limit: 100 }, resource: { amount: 1 } });
    expect(verdict.decision).toBe('deny');
    expect(verdict.reasons).toEqual([
      ruleReason('frozen', 'deny'),
      { code: 'condition_error', policy: 'docs', rule: 'frozen', detail: expect.stringContaining('frozen') },
    ]);
    expect(verdict.advice).toEqual([{ policy: 'docs', rule: 'frozen', advice: { contact: 'treasury' } }]);
  });

  it('a wrongly typed attribute is a condition error, not a permit', () => {
    const verdict = decide({ action: 'spend', subject: { limit: '100' }, resource: { amount: 1 }, context: { frozen: false } });
    expect(verdict.decision).toBe('deny');
    expect(verdict.reasons).toContainEqual(expect.objectContaining({ code: 'condition_error', rule: 'limit' }));
  });

  it('a condition that yields a non-bool at run time is an error, never a permit', () => {
    const verdict = decide({ action: 'peek', resource: { flag: 'yes' } });
    expect(verdict.decision).toBe('deny');
    expect(verdict.reasons).toContainEqual({ code: 'condition_error', policy: 'docs', rule: 'dyn-result', detail: 'condition returned string, not a bool' });
    expect(decide({ action: 'peek', resource: { flag: true } }).decision).toBe('permit');
  });

  it('a deny condition that yields a non-bool applies', () => {
    const verdict = decide({ action: 'spend', subject: { limit: 100 }, resource: { amount: 1 }, context: { frozen: 1 } });
    expect(verdict.decision).toBe('deny');
    expect(verdict.reasons[0]).toEqual(ruleReason('frozen', 'deny'));
  });

  it('denies an unknown resource type', () => {
    expect(decide({ action: 'read', roles: ['admin'], type: 'invoice' })).toEqual({
      decision: 'deny',
      reasons: [{ code: 'unknown_resource_type', detail: 'no policy for resource type "invoice"' }],
      advice: [],
    });
  });

  it('keeps resource types apart: a rule of one never decides for another', () => {
    expect(decide({ action: 'anything', type: 'note' }).reasons).toEqual([ruleReason('open', 'permit', 'notes')]);
    expect(decide({ action: 'anything', type: 'doc' }).decision).toBe('deny');
  });

  it('conditions see `now` from the clock passed in', () => {
    expect(decide({ action: 'archive' }, monday).reasons).toEqual([ruleReason('before-2030', 'permit')]);
    expect(decide({ action: 'archive' }, new Date('2031-01-01T00:00:00Z')).decision).toBe('deny');
    const onSunday = decide({ action: 'archive' }, sunday);
    expect(onSunday.reasons).toEqual([ruleReason('weekday', 'deny')]);
    expect(onSunday.advice).toEqual([{ policy: 'docs', rule: 'weekday', advice: { retry: 'monday' } }]);
  });

  it('with a trace, records every rule of the type and gives the same decision', () => {
    const input = { action: 'read', roles: ['reader'], resource: { secret: false } };
    const trace: RuleTrace[] = [];
    const traced = evaluate(set, query(input), monday, trace);
    expect(traced).toEqual(decide(input));
    expect(trace).toHaveLength(docs.rules.length);
    expect(trace.find((t) => t.rule === 'read-any')).toEqual({
      policy: 'docs', rule: 'read-any', effect: 'permit', applied: true, action: true, roles: true, scopes: null, condition: null,
    });
    expect(trace.find((t) => t.rule === 'write-scoped')).toMatchObject({ applied: false, action: false });
    expect(trace.find((t) => t.rule === 'no-secret')).toMatchObject({ applied: false, condition: { value: false } });
  });
});
