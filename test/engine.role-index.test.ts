import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Query } from '../src/decision/types.js';
import { compilePolicies, roleIndexFrom } from '../src/policy/compile.js';
import type { CompiledPolicySet } from '../src/policy/compiled.js';
import { evaluate } from '../src/policy/evaluate.js';
import type { RuleSource } from '../src/policy/schema.js';
import { startWorkClock } from './helpers/work-clock.js';

/**
 * Long candidate lists are read through a role index: a decision reads only the rules the
 * subject's roles can match. A trace (explain) still reads every rule of the type, so its
 * answer, which must match the plain one, is the reference here.
 */

const roles = ['clerk', 'auditor', 'manager', 'admin', 'guest'];
const conditions = [
  'resource.properties.flag == true',
  'context.amount > 100.0',
  // An error where the attribute is missing: a permit that does not apply, a deny that does.
  'subject.properties.level >= 2.0',
];

const ruleArb = fc.record({
  effect: fc.constantFrom('permit' as const, 'deny' as const),
  actions: fc.constantFrom<string[]>(['read'], ['write'], ['read', 'write'], ['*']),
  roles: fc.option(fc.uniqueArray(fc.constantFrom(...roles), { minLength: 1, maxLength: 3 }), { nil: undefined }),
  scopes: fc.option(fc.constantFrom<string[]>(['doc.read'], ['doc.read', 'doc.write']), { nil: undefined }),
  condition: fc.option(fc.constantFrom(...conditions), { nil: undefined }),
  advice: fc.option(fc.constant({ contact: 'desk' }), { nil: undefined }),
});

const queryArb = fc.record({
  roles: fc.array(fc.constantFrom(...roles, 'visitor'), { maxLength: 4 }),
  scopes: fc.subarray(['doc.read', 'doc.write']),
  action: fc.constantFrom('read', 'write', 'shred'),
  flag: fc.option(fc.boolean(), { nil: undefined }),
  amount: fc.option(fc.integer({ min: 0, max: 200 }), { nil: undefined }),
  level: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
});

type QueryInput = typeof queryArb extends fc.Arbitrary<infer T> ? T : never;

function compiled(rules: readonly RuleSource[]): CompiledPolicySet {
  return compilePolicies([{ file: 'doc.json', policy: { id: 'docs', resource: 'doc', rules: [...rules] } }]);
}

function query(input: QueryInput): Query {
  const present = (entries: Record<string, unknown>) => Object.fromEntries(Object.entries(entries).filter(([, v]) => v !== undefined));
  return {
    subject: { type: 'user', id: 'u1', roles: input.roles, scopes: input.scopes, aliases: [], properties: present({ level: input.level }) },
    action: { name: input.action, properties: {} },
    resource: { type: 'doc', id: 'd1', properties: present({ flag: input.flag }) },
    context: present({ amount: input.amount }),
  };
}

const now = new Date('2026-03-02T12:00:00Z');
const withTrace = (set: CompiledPolicySet, q: Query) => evaluate(set, q, now, []);
const permit = (id: string, ruleRoles?: string[]): RuleSource => ({ id, effect: 'permit', actions: ['read'], ...(ruleRoles === undefined ? {} : { roles: ruleRoles }) });

describe('evaluate: long candidate lists through the role index', () => {
  it('decides every query as a reading of every rule does, reasons, order and advice included', () => {
    const long = fc.array(ruleArb, { minLength: 2 * roleIndexFrom, maxLength: 4 * roleIndexFrom });
    let indexed = 0;
    fc.assert(
      fc.property(long, fc.array(queryArb, { minLength: 1, maxLength: 20 }), (drafts, inputs) => {
        const set = compiled(drafts.map((draft, i) => ({ id: `r${i}`, ...draft })));
        const forType = set.byResource.get('doc');
        indexed += [...(forType?.byAction.values() ?? []), forType?.anyAction].filter((c) => c?.byRole !== undefined).length;
        for (const input of inputs) {
          const q = query(input);
          expect(evaluate(set, q, now), JSON.stringify(input)).toEqual(withTrace(set, q));
        }
      }),
      { numRuns: 300 },
    );
    // The generated sets do reach the index, not only the plain reading below its threshold.
    expect(indexed).toBeGreaterThan(300);
  });

  it('names a rule once when the subject holds two of its roles', () => {
    const rules = [permit('both', ['clerk', 'auditor']), ...Array.from({ length: roleIndexFrom }, (_, i) => permit(`other${i}`, ['manager']))];
    const set = compiled(rules);
    const verdict = evaluate(set, query({ roles: ['auditor', 'clerk', 'clerk'], scopes: [], action: 'read', flag: undefined, amount: undefined, level: undefined }), now);
    expect(verdict.reasons).toEqual([{ policy: 'docs', rule: 'both', effect: 'permit' }]);
  });

  it('keeps the rules of several roles and rules naming none in policy order, denies first', () => {
    const rules: RuleSource[] = [
      permit('manager-1', ['manager']),
      permit('open-1'),
      permit('clerk-1', ['clerk']),
      ...Array.from({ length: roleIndexFrom }, (_, i) => permit(`admin${i}`, ['admin'])),
      permit('manager-2', ['manager']),
      permit('open-2'),
    ];
    const set = compiled(rules);
    const held = query({ roles: ['clerk', 'manager'], scopes: [], action: 'read', flag: undefined, amount: undefined, level: undefined });
    expect(evaluate(set, held, now).reasons.map((r) => ('rule' in r ? r.rule : r.code))).toEqual(['manager-1', 'open-1', 'clerk-1', 'manager-2', 'open-2']);
    const denied = compiled([...rules, { id: 'guest-deny', effect: 'deny', actions: ['*'], roles: ['guest'] }]);
    const guest = query({ roles: ['manager', 'guest'], scopes: [], action: 'read', flag: undefined, amount: undefined, level: undefined });
    expect(evaluate(denied, guest, now).reasons).toEqual([{ policy: 'docs', rule: 'guest-deny', effect: 'deny' }]);
  });

  const wide = Array.from({ length: 1000 }, (_, i) => `r${i}`);
  const longScope = (end: string) => `doc.${'x'.repeat(60)}.${end}`;
  // Each bound is the fewest milliseconds one decision took (of ten, on the work clock) and
  // lies between what it takes (measured 0.16, 2.5 and 2.6 ms on two cores) and what the
  // costlier reading took (4.6 to 8.4 ms, 99 ms and 0.93 s).
  it.each([
    // Gathered role by role, each rule would be listed, copied and sorted once per role it names.
    ['50 rules naming the same 1,000 roles', 2, Array.from({ length: 50 }, (_, i): RuleSource => ({ id: `p${i}`, effect: 'permit', actions: ['read'], roles: wide, condition: 'context.amount > 100.0' }))],
    // Read whole, each of 16,000 rules would look up each of the subject's 1,000 roles.
    ['17 rules naming 1,000 roles among 16,000 naming another', 25, [
      ...Array.from({ length: 17 }, (_, i): RuleSource => ({ id: `p${i}`, effect: 'permit', actions: ['read'], roles: wide, condition: 'context.amount > 100.0' })),
      ...Array.from({ length: 15_983 }, (_, i): RuleSource => ({ id: `d${i}`, effect: 'deny', actions: ['read'], roles: ['x'] })),
    ]],
    // Each of 16,000 rules would scan the subject's 1,000 scopes for its own, comparing each
    // (scopes of one length, alike but for their last characters) to its end.
    ['16,000 rules naming a scope the subject lacks', 50, Array.from({ length: 16_000 }, (_, i): RuleSource => ({ id: `s${i}`, effect: 'permit', actions: ['read'], scopes: [longScope('none')] }))],
  ] as const)('costs what the rules\' own role and scope lists do, not rules × the subject\'s: %s', (_, bound, rules) => {
    const set = compiled(rules);
    const asked = query({ roles: wide, scopes: [], action: 'read', flag: undefined, amount: 1, level: undefined });
    const held: Query = { ...asked, subject: { ...asked.subject, scopes: wide.map((_, i) => longScope(String(i).padStart(4, '0'))) } };
    // Once untimed, compiling the evaluator's code.
    const traced = withTrace(set, held);
    evaluate(set, held, now);
    let fewest = Infinity;
    for (let i = 0; i < 10; i++) {
      const elapsed = startWorkClock();
      expect(evaluate(set, held, now).decision).toBe('deny');
      fewest = Math.min(fewest, elapsed());
    }
    expect(fewest).toBeLessThan(bound);
    expect(evaluate(set, held, now)).toEqual(traced);
  });
});
