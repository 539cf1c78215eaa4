import { beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { appOverPolicies } from './helpers/policy-app.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

// CEL's arithmetic is an error where its result leaves the range of its type (langdef.md,
// "Overflow"): int64, uint64, and the ranges of timestamps and durations.

/** A policy directory of one invoice policy with these rules. */
const invoicePolicy = (rules: readonly Record<string, unknown>[]) => ({ 'invoices.json': { id: 'invoices', resource: 'invoice', rules } });

// MIN_INT as a string: int() of the double -2^63 is an error itself, as in cel-go; of this string, MIN_INT.
const minInt = '-9223372036854775808';

/** A permit rule whose condition failed: no rule applies, and the reason says why. */
const failed = (rule: string, detail: string) => ({
  decision: 'deny',
  reasons: [{ code: 'no_applicable_rule' }, { code: 'condition_error', rule, detail: expect.stringContaining(detail) as unknown }],
});

describe('POST /decide: int arithmetic beyond int64 is an error', () => {
  let app: App;
  beforeAll(async () => {
    ({ app } = await appOverPolicies(invoicePolicy([
      { id: 'even-split', effect: 'permit', actions: ['split'], condition: 'int(resource.properties.total) % int(context.parts) == 0' },
      { id: 'large-share', effect: 'permit', actions: ['share'], condition: 'int(resource.properties.total) / int(context.parts) > 0' },
      { id: 'credit', effect: 'permit', actions: ['credit'], condition: '-int(resource.properties.total) > 0' },
      { id: 'sum', effect: 'permit', actions: ['sum'], condition: 'int(resource.properties.total) + int(context.parts) < 0' },
      { id: 'difference', effect: 'permit', actions: ['subtract'], condition: 'int(resource.properties.total) - int(context.parts) < 0' },
      { id: 'product', effect: 'permit', actions: ['multiply'], condition: 'int(resource.properties.total) * int(context.parts) > 0' },
      { id: 'large-refund', effect: 'deny', actions: ['pay'], condition: 'int(resource.properties.total) / int(context.parts) < -1000' },
      { id: 'pay', effect: 'permit', actions: ['pay'] },
    ])));
  });

  async function decide(action: string, total: number | string, parts: number) {
    const res = await postJson(app, '/decide', { subject: { id: 'u1' }, action, resource: { type: 'invoice', properties: { total } }, context: { parts } });
    expect(res.status).toBe(200);
    return readJson(res);
  }
  const overflowed = (rule: string) => failed(rule, 'integer overflow');

  it('answers within int64 as before', async () => {
    expect(await decide('split', -100, -1)).toMatchObject({ decision: 'permit', reasons: [{ rule: 'even-split' }] });
    expect(await decide('share', minInt, -2)).toMatchObject({ decision: 'permit', reasons: [{ rule: 'large-share' }] });
    expect(await decide('credit', -100, 1)).toMatchObject({ decision: 'permit', reasons: [{ rule: 'credit' }] });
    expect(await decide('sum', minInt, 0)).toMatchObject({ decision: 'permit' });
  });

  it('is an error for MIN_INT / -1, MIN_INT % -1 and -MIN_INT, which do not fit an int64', async () => {
    // Were permit: the library gave 0 for MIN_INT % -1, and 2^63 for MIN_INT / -1 and -MIN_INT.
    expect(await decide('split', minInt, -1)).toMatchObject(overflowed('even-split'));
    expect(await decide('share', minInt, -1)).toMatchObject(overflowed('large-share'));
    expect(await decide('credit', minInt, 1)).toMatchObject(overflowed('credit'));
  });

  it('is an error for +, - and * past either end', async () => {
    expect(await decide('sum', minInt, -1)).toMatchObject(overflowed('sum'));
    expect(await decide('subtract', minInt, 1)).toMatchObject(overflowed('difference'));
    expect(await decide('multiply', minInt, -1)).toMatchObject(overflowed('product'));
    expect(await decide('multiply', 2 ** 62, 2)).toMatchObject(overflowed('product'));
  });

  it('a deny rule whose arithmetic overflows applies, with the error', async () => {
    expect(await decide('pay', 100, 1)).toMatchObject({ decision: 'permit', reasons: [{ rule: 'pay' }] });
    expect(await decide('pay', minInt, 2)).toMatchObject({ decision: 'deny', reasons: [{ rule: 'large-refund' }] });
    // Was: permit, MIN_INT / -1 being 2^63 to the library, which is not below -1000.
    expect(await decide('pay', minInt, -1)).toMatchObject({
      decision: 'deny',
      reasons: [{ rule: 'large-refund' }, { code: 'condition_error', rule: 'large-refund', detail: expect.stringContaining('integer overflow') as unknown }],
    });
  });

  it('refuses an int literal beyond int64 at load, but not -9223372036854775808', async () => {
    const rule = (id: string, condition: string) => ({ id, effect: 'permit', actions: ['read'], condition });
    const dir = await tempDir(invoicePolicy([
      rule('smallest', '-9223372036854775808 < int(resource.properties.total)'),
      rule('hex', '0x7fffffffffffffff > int(resource.properties.total)'),
      rule('past-max', '9223372036854775808 > int(resource.properties.total)'),
      rule('past-min', '-9223372036854775809 < int(resource.properties.total)'),
      rule('hex-past-max', '0x8000000000000000 > 0'),
    ]));
    const run = await runCli(['validate', dir]);
    expect(run.code).toBe(1);
    const refused = [...run.stderr.matchAll(/\(rule ([\w-]+)\): (.*)/g)].map((match) => [match[1], match[2]]);
    expect(refused).toEqual([
      ['past-max', expect.stringContaining('integer literal beyond int64')],
      ['past-min', expect.stringContaining('integer literal beyond int64')],
      ['hex-past-max', expect.stringContaining('integer literal beyond int64')],
    ]);
  });
});

describe('POST /decide: timestamp and duration arithmetic stays within their ranges, exact to the nanosecond', () => {
  let app: App;
  beforeAll(async () => {
    const policyDir = await tempDir(invoicePolicy([
      { id: 'expired', effect: 'deny', actions: ['read'], condition: 'timestamp(resource.properties.issued) + duration(context.validity) < now' },
      { id: 'read', effect: 'permit', actions: ['read'] },
      { id: 'recent', effect: 'permit', actions: ['audit'], condition: 'now - timestamp(resource.properties.issued) < duration("87600h")' },
      { id: 'span', effect: 'permit', actions: ['span'], condition: 'timestamp(context.to) - timestamp(context.from) > duration("0s")' },
      { id: 'overdrawn', effect: 'permit', actions: ['sum'], condition: 'duration(context.a) + duration(context.b) < duration("-1s")' },
      { id: 'difference', effect: 'permit', actions: ['subtract'], condition: 'duration(context.a) - duration(context.b) == duration(context.c)' },
      { id: 'earlier', effect: 'permit', actions: ['rewind'], condition: 'timestamp(context.from) - duration(context.a) == timestamp(context.to)' },
      { id: 'too-long', effect: 'deny', actions: ['hold'], condition: 'duration(context.a) > duration(context.b)' },
      { id: 'hold', effect: 'permit', actions: ['hold'], condition: 'duration(context.a) <= duration(context.b) && !(duration(context.b) < duration(context.a))' },
      { id: 'after-hours', effect: 'deny', actions: ['book'], condition: '(duration(context.a) + timestamp(context.from)).getHours() == 18 && (dyn(duration(context.a)) + timestamp(context.from)).getHours() == 18 && (duration(context.a) + dyn(timestamp(context.from))).getHours() == 18' },
      { id: 'overrun', effect: 'deny', actions: ['book'], condition: 'duration(context.a) + timestamp(context.from) > timestamp(context.to)' },
      { id: 'book', effect: 'permit', actions: ['book'], condition: 'type(duration(context.a) + timestamp(context.from)) == google.protobuf.Timestamp' },
    ]));
    ({ app } = await buildTestApp({ policyDir, clock: () => new Date('2026-03-02T12:00:00Z') }));
  });

  async function decide(action: string, context: Record<string, unknown>, issued = '2026-03-01T00:00:00Z') {
    const res = await postJson(app, '/decide', { subject: { id: 'u1' }, action, resource: { type: 'invoice', properties: { issued } }, context });
    expect(res.status).toBe(200);
    return readJson(res);
  }

  it('answers within the ranges as before', async () => {
    expect(await decide('read', { validity: '720h' })).toMatchObject({ decision: 'permit', reasons: [{ rule: 'read' }] });
    expect(await decide('read', { validity: '24h' })).toMatchObject({ decision: 'deny', reasons: [{ rule: 'expired' }] });
    expect(await decide('read', { validity: '1s' }, '9999-12-31T23:59:58Z')).toMatchObject({ decision: 'permit' });
    expect(await decide('read', { validity: '-1s' }, '0001-01-01T00:00:01Z')).toMatchObject({ decision: 'deny', reasons: [{ rule: 'expired' }] });
    expect(await decide('audit', {}, '2020-01-01T00:00:00Z')).toMatchObject({ decision: 'permit' });
    expect(await decide('span', { from: '1800-01-01T00:00:00Z', to: '2026-01-01T00:00:00Z' })).toMatchObject({ decision: 'permit' });
  });

  it('is an error for a timestamp past 9999-12-31T23:59:59.999999999Z or before 0001-01-01T00:00:00Z', async () => {
    // Was: permit, the library making a date in the year 10000.
    expect(await decide('read', { validity: '1s' }, '9999-12-31T23:59:59Z')).toMatchObject({
      decision: 'deny',
      reasons: [{ rule: 'expired' }, { code: 'condition_error', rule: 'expired', detail: expect.stringContaining('timestamp overflow') as unknown }],
    });
    for (const [validity, issued] of [['-1ns', '0001-01-01T00:00:00Z'], ['1ms', '9999-12-31T23:59:59.999Z'], ['2562047h', '9800-01-01T00:00:00Z']]) {
      expect(await decide('read', { validity }, issued), `${issued} + ${validity}`).toMatchObject({ decision: 'deny', reasons: [{ rule: 'expired' }, { code: 'condition_error' }] });
    }
    expect(await decide('rewind', { from: '0001-01-01T00:00:00Z', a: '1ns', to: '0001-01-01T00:00:00Z' })).toMatchObject(failed('earlier', 'timestamp overflow'));
    // Out of range as text, as before.
    for (const issued of ['10000-01-01T00:00:00Z', '0000-12-31T23:59:59Z']) {
      expect(await decide('read', { validity: '1s' }, issued), issued).toMatchObject({ decision: 'deny', reasons: [{ rule: 'expired' }, { code: 'condition_error' }] });
    }
  });

  it('is an error for a duration beyond what Go\'s time.Duration holds (±2^63 ns, ~292 years), as in cel-go', async () => {
    // Was: permit, the library adding without a bound.
    expect(await decide('sum', { a: '-2562047h', b: '-2562047h' })).toMatchObject(failed('overdrawn', 'duration overflow'));
    expect(await decide('subtract', { a: '2562047h', b: '-1h', c: '0s' })).toMatchObject(failed('difference', 'duration overflow'));
    // The cel-spec conformance case: the span of all timestamps is no duration.
    expect(await decide('span', { from: '0001-01-01T00:00:00Z', to: '9999-12-31T23:59:59Z' })).toMatchObject(failed('span', 'duration overflow'));
    expect(await decide('audit', {}, '1700-01-01T00:00:00Z')).toMatchObject(failed('recent', 'duration overflow'));
    // Out of range as text, as before.
    expect(await decide('sum', { a: '2562048h', b: '0s' })).toMatchObject(failed('overdrawn', 'duration() requires'));
  });

  it('adds and subtracts durations with fractions of a second of either sign exactly', async () => {
    // Was: permit, -1.5s + 1s being -1.5s to the library.
    expect(await decide('sum', { a: '-1.5s', b: '1s' })).toMatchObject({ decision: 'deny', reasons: [{ code: 'no_applicable_rule' }] });
    expect(await decide('sum', { a: '-2s', b: '0.5s' })).toMatchObject({ decision: 'permit' });
    // Were deny: the library's results, though of the right length, were not equal to the same duration read from text.
    for (const [a, b, c] of [['1s', '1.5s', '-0.5s'], ['-1.5s', '-1s', '-0.5s'], ['0.3s', '-0.7s', '1s'], ['1ns', '2ns', '-1ns']]) {
      expect(await decide('subtract', { a, b, c }), `${a} - ${b}`).toMatchObject({ decision: 'permit' });
    }
    expect(await decide('rewind', { from: '2026-01-01T00:00:00Z', a: '1.5s', to: '2025-12-31T23:59:58.5Z' })).toMatchObject({ decision: 'permit' });
    expect(await decide('rewind', { from: '2026-01-01T00:00:00Z', a: '-1ns', to: '2026-01-01T00:00:00Z' })).toMatchObject({ decision: 'permit' });
  });

  it('puts a timestamp moved by a fraction of a millisecond in the millisecond its instant falls in, before 1970 too', async () => {
    expect(await decide('rewind', { from: '2026-01-01T00:00:00.001Z', a: '1ns', to: '2026-01-01T00:00:00Z' })).toMatchObject({ decision: 'permit' });
    expect(await decide('rewind', { from: '1970-01-01T00:00:00Z', a: '1ns', to: '1969-12-31T23:59:59.999Z' })).toMatchObject({ decision: 'permit' });
    expect(await decide('rewind', { from: '1969-12-31T23:59:59.999Z', a: '0.5ms', to: '1969-12-31T23:59:59.998Z' })).toMatchObject({ decision: 'permit' });
    expect(await decide('rewind', { from: '1969-12-31T23:59:59.998Z', a: '-1.5ms', to: '1969-12-31T23:59:59.999Z' })).toMatchObject({ decision: 'permit' });
  });

  it('orders durations by their nanoseconds, however long', async () => {
    // Were permit: the library ordered durations as doubles of milliseconds, which past ~200
    // days no longer tell 1 ns apart, so the deny rule did not apply and `<=` held.
    for (const [a, b] of [['4800h1ns', '4800h'], ['876000h100ns', '876000h'], ['-876000h', '-876000h1ns'], ['2562047h47m16.854775807s', '2562047h47m16.854775806s']]) {
      expect(await decide('hold', { a, b }), `${a} > ${b}`).toMatchObject({ decision: 'deny', reasons: [{ rule: 'too-long' }] });
      expect(await decide('hold', { a: b, b: a }), `${b} <= ${a}`).toMatchObject({ decision: 'permit', reasons: [{ rule: 'hold' }] });
    }
    expect(await decide('hold', { a: '876000h', b: '876000h' })).toMatchObject({ decision: 'permit' });
    expect(await decide('hold', { a: '-0.5s', b: '0s' })).toMatchObject({ decision: 'permit' });
  });

  it('makes a timestamp of a duration plus a timestamp, as of a timestamp plus a duration', async () => {
    // Were permit: the library typed the sum as a duration, its left operand, so getHours() read
    // the timestamp as a duration and was never 18, and the comparison with a timestamp, refused
    // at load, took the policy down with it.
    const book = (a: string) => decide('book', { a, from: '2026-03-02T17:30:00Z', to: '2026-03-02T20:00:00Z' });
    expect(await book('1h')).toMatchObject({ decision: 'deny', reasons: [{ rule: 'after-hours' }] });
    expect(await book('3h')).toMatchObject({ decision: 'deny', reasons: [{ rule: 'overrun' }] });
    expect(await book('2h')).toMatchObject({ decision: 'permit', reasons: [{ rule: 'book' }] });
  });
});

describe('POST /decide: a NaN is never ordered, as in cel-go', () => {
  let app: App;
  beforeAll(async () => {
    ({ app } = await appOverPolicies(invoicePolicy([
      { id: 'over-limit', effect: 'deny', actions: ['pay'], condition: 'double(resource.properties.amount) > 10000.0' },
      { id: 'pay', effect: 'permit', actions: ['pay'] },
      { id: 'within-limit', effect: 'permit', actions: ['approve'], condition: '!(resource.properties.total / resource.properties.lines > 500.0)' },
      { id: 'above-int', effect: 'permit', actions: ['split'], condition: '1 < double(resource.properties.amount) || 1u >= double(resource.properties.amount)' },
    ])));
  });

  async function decide(action: string, properties: Record<string, unknown>) {
    const res = await postJson(app, '/decide', { subject: { id: 'u1' }, action, resource: { type: 'invoice', properties } });
    expect(res.status).toBe(200);
    return readJson(res);
  }
  const unordered = { code: 'condition_error', detail: expect.stringContaining('NaN values cannot be ordered') as unknown };

  it('orders numbers as before', async () => {
    expect(await decide('pay', { amount: '20000' })).toMatchObject({ decision: 'deny', reasons: [{ rule: 'over-limit' }] });
    expect(await decide('pay', { amount: '100' })).toMatchObject({ decision: 'permit', reasons: [{ rule: 'pay' }] });
    expect(await decide('approve', { total: 1000, lines: 4 })).toMatchObject({ decision: 'permit', reasons: [{ rule: 'within-limit' }] });
    expect(await decide('split', { amount: '0.5' })).toMatchObject({ decision: 'permit' });
  });

  it('is an error to order a NaN, so a deny rule reading one applies and a permit does not', async () => {
    // Were permit: the library held every ordering with NaN false, so the deny did not apply
    // to an amount of "NaN", and `!(0/0 > 500.0)` held.
    expect(await decide('pay', { amount: 'NaN' })).toMatchObject({ decision: 'deny', reasons: [{ rule: 'over-limit' }, { ...unordered, rule: 'over-limit' }] });
    expect(await decide('approve', { total: 0, lines: 0 })).toMatchObject({ decision: 'deny', reasons: [{ code: 'no_applicable_rule' }, { ...unordered, rule: 'within-limit' }] });
    expect(await decide('split', { amount: 'nan' })).toMatchObject({ decision: 'deny', reasons: [{ code: 'no_applicable_rule' }, { ...unordered, rule: 'above-int' }] });
  });
});
