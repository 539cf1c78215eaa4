import { readFileSync } from 'node:fs';
import { Environment } from '@marcbachmann/cel-js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileCondition, type CompiledCondition, type ConditionVariables } from '../src/policy/cel.js';
import { fastCondition, undecided } from '../src/policy/cel-fast.js';
import { startDecision } from '../src/policy/cel-strict.js';
import { conditionOf } from './helpers/cel-conditions.js';

/**
 * The fast path (cel-fast.ts) against the library as the service runs it: the same condition
 * compiled as written, and wrapped in `dyn()`, which the fast path does not take, so that the
 * library evaluates all of it (the service's trim() and lowerAscii(), its stricter `in`, `==`
 * and has(), its retry of data the library cannot type). Request data of every JSON kind: null,
 * bools, integers and not, -0, 1e308, integers past 2^53, strings beyond ASCII and the BMP,
 * lists, nested maps, missing members, `constructor` and `__proto__` members.
 * CEL_FUZZ_RUNS=<n> runs each property n times.
 */

const parser = new Environment();

/** A bool, or the kind of value that is none (a rule's error too, see evaluate.ts), or an error. */
type Outcome = { value: boolean } | { notBool: string } | { error: true };

function outcome(condition: CompiledCondition, vars: ConditionVariables): Outcome {
  startDecision();
  try {
    const value = condition(vars);
    return typeof value === 'boolean' ? { value } : { notBool: typeof value };
  } catch {
    return { error: true };
  }
}

const strings = ['a', 'A', 'b', '', ' a', 'a\t', '\u0085a', '\ufeffa', '\u00a0', 'K', 'k', '\u212a', '\u00e9', '\u00c9', '\u{1f600}', '\uffff', '\ud800', 'create'];
const numbers = [0, -0, 1, 5, -1, 1.5, 0.1, 5e-324, 1e308, -1e308, 2 ** 53, 2 ** 53 + 2, 2 ** 60, -(2 ** 63)];
const scalar: fc.Arbitrary<unknown> = fc.oneof(fc.constantFrom(...strings), fc.constantFrom(...numbers), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null));
const stringList = fc.array(fc.constantFrom(...strings), { maxLength: 3 });
const value: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 6, arbitrary: scalar },
    fc.array(tie('v'), { maxLength: 3 }),
    stringList,
    fc.dictionary(fc.constantFrom('a', 'b', 'l', 'm', 'constructor', '__proto__', 'toString'), tie('v'), { maxKeys: 3 }).map((d) => JSON.parse(JSON.stringify(d)) as unknown),
  ),
})).v;
// Members the conditions read, any of them missing; sometimes one the library cannot type (cel-values.ts) or `__proto__`.
const members = fc
  .tuple(fc.record({ a: value, b: value, l: fc.oneof(stringList, value), m: value }, { requiredKeys: [] }), fc.constantFrom(undefined, undefined, undefined, 'constructor', '__proto__'))
  .map(([record, odd]) => (odd === undefined ? record : (JSON.parse(JSON.stringify({ ...record, [odd]: 'x' })) as Record<string, unknown>)));
const variables: fc.Arbitrary<ConditionVariables> = fc.record({
  subject: fc.record({ type: fc.constant('user'), id: fc.constantFrom('a', 'A', 'u-1', ' a'), roles: fc.constant([]), scopes: fc.constant([]), aliases: fc.oneof(stringList, value), properties: members }, { requiredKeys: ['type', 'id', 'properties'] }),
  resource: fc.record({ type: fc.constant('invoice'), id: fc.constantFrom('1', undefined), properties: members }),
  action: fc.record({ name: fc.constantFrom('a', 'read', 'create'), properties: fc.constant({}) }),
  context: members,
  now: fc.constant(new Date(0)),
});

const paths = ['context.a', 'context.b', 'context.l', 'context.m', 'context.m.a', 'context.m.m.a', 'resource.properties.a', 'resource.properties.l', 'subject.properties.b', 'subject.id', 'resource.id', 'action.name', 'context.constructor', 'context.__proto__'];
const literals = ['"a"', '"A"', '""', '"k"', '"\\u00e9"', '"\\U0001F600"', '1.5', '0.0', '-0.0', '1e308', '5.0', '5', '1u', 'true', 'false', 'null'];
const operand: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...paths) },
  { weight: 2, arbitrary: fc.constantFrom(...literals) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom('-', '', ''), fc.constantFrom(...paths), fc.constantFrom('', '.trim()', '.lowerAscii()', '.trim().lowerAscii()')).map(([neg, p, m]) => (neg === '' ? `${p}${m}` : `-${p}`)) },
);
const list = fc.oneof(
  fc.constantFrom('["a", "b"]', '[]', '["A", "\\u212a"]', '["a", 1.0]', '[null]', '[1.0, 5]', 'context.l', 'context.m', 'subject.aliases', 'resource.properties.l'),
  // `x` alone too: a map calling no method is the library's.
  fc.tuple(fc.constantFrom('context.l', 'subject.aliases'), fc.constantFrom('x', 'x.trim()', 'x.lowerAscii()', 'x.trim().lowerAscii()', 'x.lowerAscii().trim()')).map(([l, body]) => `${l}.map(x, ${body})`),
  // The variable of `map` hiding the request's own: the item is still read outside it.
  fc.constant('context.l.map(context, context.trim())'),
);
const simple = fc.oneof(
  fc.tuple(operand, fc.constantFrom('==', '!=', '<', '<=', '>', '>='), operand).map(([l, op, r]) => `${l} ${op} ${r}`),
  fc.tuple(operand, list).map(([l, r]) => `${l} in ${r}`),
  fc.constantFrom(...paths.filter((p) => p.includes('.'))).map((p) => `has(${p})`),
  fc.tuple(operand, fc.constantFrom('==', '!='), fc.constantFrom('double', 'string', 'bool', 'null_type', 'int', 'list', 'map')).map(([e, op, t]) => `type(${e}) ${op} ${t}`),
  fc.constantFrom('true', 'false', 'context.a', 'context.m.a'),
);
// A comparison of the outcomes of two others, or of one with a value.
const leaf = fc.oneof(
  { weight: 4, arbitrary: simple },
  { weight: 1, arbitrary: fc.tuple(simple, fc.constantFrom('==', '!=', '<'), fc.oneof(simple, operand)).map(([l, op, r]) => `(${l}) ${op} (${r})`) },
);
const condition = conditionOf(leaf);

function sameOutcome(a: Outcome, b: Outcome): boolean {
  if ('value' in a) return 'value' in b && a.value === b.value;
  if ('notBool' in a) return 'notBool' in b && a.notBool === b.notBool;
  return 'error' in b;
}

/** `source` compiled as the service loads it; undefined when it is refused at load. */
function loaded(source: string): CompiledCondition | undefined {
  try {
    return compileCondition(source);
  } catch {
    return undefined;
  }
}

interface Compiled {
  readonly fast: CompiledCondition | undefined;
  readonly library: CompiledCondition | undefined;
  readonly direct: ReturnType<typeof fastCondition>;
}

/**
 * Each condition compiled once, both ways, as the service compiles it once at load: a run over
 * the invoice policies' few conditions spent four fifths of its time compiling them again.
 */
const compiledSources = new Map<string, Compiled>();

function compiled(source: string): Compiled {
  let found = compiledSources.get(source);
  if (found === undefined) {
    const fast = loaded(source);
    const library = loaded(`dyn(${source})`);
    found = { fast, library, direct: fast === undefined || library === undefined ? undefined : fastCondition(parser.parse(source).ast) };
    compiledSources.set(source, found);
  }
  return found;
}

/** Compares `source` both ways on each of `cases`; returns how many of them the fast path decided. */
function compareOn(source: string, cases: readonly ConditionVariables[]): number {
  const { fast, library, direct } = compiled(source);
  // Refused at load, so never evaluated; but only where the library refuses it too.
  expect(fast === undefined, `${source} refused at load as dyn(${source}) is`).toBe(library === undefined);
  if (fast === undefined || library === undefined) return 0;
  let decided = 0;
  for (const vars of cases) {
    if (direct !== undefined && direct(vars) !== undecided) decided++;
    const [got, wanted] = [outcome(fast, vars), outcome(library, vars)];
    // Asserted where they differ: an expect, and its message, for each of some 12,000 cases cost a
    // tenth of the run.
    if (!sameOutcome(got, wanted)) expect(got, `${source} on ${JSON.stringify(vars)}`).toEqual(wanted);
  }
  return decided;
}

// The attributes the default invoice policies read, mostly as callers send them, any of them missing or odd.
const invoiceValue = (...usual: unknown[]) => fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...usual) }, { weight: 1, arbitrary: value });
const invoiceVariables: fc.Arbitrary<ConditionVariables> = fc.record({
  subject: fc.record({
    type: fc.constant('user'),
    id: fc.constantFrom('alice', 'Alice ', 'bob'),
    roles: fc.constant([]),
    scopes: fc.constant([]),
    aliases: invoiceValue([], ['alice@example.com'], ['ALICE@example.com', 'bob'], ['alice', 1]),
    properties: fc.record({ region: invoiceValue('EU', 'US'), department: invoiceValue('sales', 'finance'), approval_limit: invoiceValue(1000, 0, -0, 1e308) }, { requiredKeys: [] }),
  }),
  resource: fc.record({
    type: fc.constant('invoice'),
    id: fc.constantFrom('1', undefined),
    properties: fc.record(
      {
        region: invoiceValue('EU', 'US'),
        department: invoiceValue('sales', 'finance'),
        invoice_type: invoiceValue('purchase', 'credit_note', 'sales'),
        status: invoiceValue('draft', 'submitted', 'approved'),
        owner: invoiceValue('alice', ' ALICE\u0085', 'alice@example.com', 'bob', '', '\u212alice'),
        amount: invoiceValue(10, 999.5, -2000, 1000, 2 ** 60),
      },
      { requiredKeys: [] },
    ),
  }),
  action: fc.record({ name: fc.constantFrom('read', 'create', 'update', 'approve'), properties: fc.constant({}) }),
  context: fc.record({ mfa: invoiceValue(true, false) }, { requiredKeys: [] }),
  now: fc.constant(new Date(0)),
});
const invoiceConditions = (JSON.parse(readFileSync('policies/invoices.json', 'utf8')) as { rules: { condition?: string }[] }).rules.flatMap((rule) => rule.condition ?? []);

const runs = (usual: number): number => Number(process.env.CEL_FUZZ_RUNS ?? usual);

// The example conditions README.md shows (its "Conditions (CEL)" block), on requests holding the attributes they read, as callers send them or odd.
const readme = readFileSync('README.md', 'utf8');
const readmeBlock = /```cel\n([\s\S]*?)```/.exec(readme.slice(readme.indexOf('### Conditions (CEL)')))?.[1] ?? '';
const readmeConditions = readmeBlock.split('\n').map((line) => line.replace(/\s+\/\/.*$/, '').trim()).filter((line) => line !== '');
const readmeVariables: fc.Arbitrary<ConditionVariables> = fc.record({
  subject: fc.record({
    type: fc.constant('user'),
    id: fc.constant('alice'),
    roles: invoiceValue([], ['auditor'], ['accountant', 'auditor'], ['Auditor']),
    scopes: fc.constant([]),
    aliases: fc.constant([]),
    properties: fc.record({ region: invoiceValue('EU', 'US'), departments: invoiceValue([], ['sales'], ['finance', 'sales'], ['sales', 1]) }, { requiredKeys: [] }),
  }),
  resource: fc.record({
    type: fc.constant('invoice'),
    id: fc.constantFrom('1', undefined),
    properties: fc.record(
      { region: invoiceValue('EU', 'US'), department: invoiceValue('sales', 'finance'), amount: invoiceValue(10, 10000, 10000.5, -0, '500'), due_date: invoiceValue('2026-03-01T00:00:00Z', '1969-12-31T23:59:59Z', '2026-03-01') },
      { requiredKeys: [] },
    ),
  }),
  action: fc.record({ name: fc.constant('read'), properties: fc.constant({}) }),
  context: fc.record({ mfa: invoiceValue(true, false, 'true') }, { requiredKeys: [] }),
  now: fc.constantFrom(new Date(0), new Date('2026-03-02T09:00:00Z'), new Date('2026-03-02T18:00:00Z')),
});

describe('the fast path against the library, the same condition forced through it', () => {
  it('forces a condition through the library by wrapping it in dyn()', () => {
    expect(fastCondition(parser.parse('context.a == "a"').ast)).toBeDefined();
    expect(fastCondition(parser.parse('dyn(context.a == "a")').ast)).toBeUndefined();
  });

  /** Compares the two on `numRuns` conditions drawn from `sources`, each on four requests of `requests`. */
  function agreeOnEach(sources: readonly string[], requests: fc.Arbitrary<ConditionVariables>, numRuns: number): void {
    expect(sources.length).toBeGreaterThan(5);
    let decided = 0;
    fc.assert(
      fc.property(fc.constantFrom(...sources), fc.array(requests, { minLength: 4, maxLength: 4 }), (source, cases) => {
        decided += compareOn(source, cases);
      }),
      { numRuns },
    );
    // The fast path itself answered a share of the cases compared.
    expect(decided).toBeGreaterThan((numRuns * 4) / 20);
  }

  it('agree on the default invoice policies\' conditions', () => {
    agreeOnEach(invoiceConditions, invoiceVariables, runs(400));
  }, 600_000);

  it('agree on the example conditions README.md shows', () => {
    agreeOnEach(readmeConditions, readmeVariables, runs(300));
  }, 600_000);

  it('agree on every value and every error', () => {
    let decided = 0;
    const numRuns = runs(2_000);
    fc.assert(
      fc.property(condition, fc.array(variables, { minLength: 6, maxLength: 6 }), (source, cases) => {
        decided += compareOn(source, cases);
      }),
      { numRuns },
    );
    expect(decided).toBeGreaterThan((numRuns * 6) / 20);
  }, 600_000);
});
