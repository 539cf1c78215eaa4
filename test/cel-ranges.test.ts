import { beforeAll, describe, expect, it } from 'vitest';
import { postJson, readJson, type buildTestApp } from './helpers/app.js';
import { appOverPolicies } from './helpers/policy-app.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

// CEL's arithmetic is an error where its result leaves the range of its type (langdef.md,
// "Overflow"): int64, uint64, and the ranges of timestamps and durations.

/** A policy directory of one invoice policy with these rules. */
const invoicePolicy = (rules: readonly Record<string, unknown>[]) => ({ 'invoices.json': { id: 'invoices', resource: 'invoice', rules } });

const minInt = -(2 ** 63);

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

  async function decide(action: string, total: number, parts: number) {
    const res = await postJson(app, '/decide', { subject: { id: 'u1' }, action, resource: { type: 'invoice', properties: { total } }, context: { parts } });
    expect(res.status).toBe(200);
    return readJson(res);
  }
  const overflowed = (rule: string) => ({
    decision: 'deny',
    reasons: [{ code: 'no_applicable_rule' }, { code: 'condition_error', rule, detail: expect.stringContaining('integer overflow') as unknown }],
  });

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
