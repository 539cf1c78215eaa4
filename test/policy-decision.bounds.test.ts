import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

const rule = (id: string, actions: string[], condition: string, roles?: string[]) => ({ id, effect: 'permit', actions, condition, ...(roles && { roles }) });

// Each ~1M steps: one scan of a request list for each element of another.
const blocked = 'subject.roles.exists(r, r in resource.properties.blocked_roles)';
const approver = 'subject.roles.exists(r, r in resource.properties.approvers)';
const owner = 'resource.properties.owners.exists(o, o in subject.properties.teams)';

/** `pdp validate` over `files`: its exit code and what it printed on stderr, line by line. */
async function validate(files: Record<string, unknown>) {
  const run = await runCli(['validate', await tempDir(files)]);
  return { code: run.code, lines: run.stderr.trimEnd().split('\n') };
}

describe('the conditions one decision can evaluate', () => {
  const audit = { id: 'audit', resource: 'invoice', rules: [{ ...rule('blocked-any', ['*'], blocked), effect: 'deny' }] };
  const approvals = (third: string) => ({
    id: 'approvals',
    resource: 'invoice',
    rules: [rule('approver', ['approve'], approver), rule('owner', ['approve'], owner), rule('approver-again', [third], approver), rule('reader', ['read'], '"x" in resource.properties.tags')],
  });

  it('refuses a set where they cost more than 4,000,000 steps together, at the condition that passes it, "*" rules counted first', async () => {
    // Each condition is within its own bound: before, the set loaded, and a decision on
    // "approve" evaluated all four.
    expect(await validate({ 'audit.json': audit, 'approvals.json': approvals('approve') })).toEqual({
      code: 1,
      lines: [
        'error approvals.json $.rules[2].condition (rule approver-again): too costly together: one decision for action "approve" on resource type "invoice" may evaluate conditions of up to 4024009 steps in all (at most 4000000), those of its rules ("*" rules included) one subject\'s roles can match; this condition (1006002 steps) takes them past the bound: make fewer of them costly (a comprehension over request lists costs most)',
        'invalid: 1 problem(s)',
      ],
    });
    // The same conditions over two actions: no decision evaluates more than three.
    expect((await validate({ 'audit.json': audit, 'approvals.json': approvals('pay') })).code).toBe(0);
  });

  it('refuses "*" rules costing more than the bound together, for any action', async () => {
    const stars = { id: 'audit', resource: 'invoice', rules: [blocked, approver, owner, blocked].map((condition, i) => rule(`any-${String(i)}`, ['*'], condition)) };
    const { code, lines } = await validate({ 'audit.json': stars });
    expect(code).toBe(1);
    expect(lines[0]).toMatch(/^error audit\.json \$\.rules\[3\]\.condition \(rule any-3\): too costly together: one decision for any action on resource type "invoice" may evaluate conditions of up to 4024009 steps/);
  });

  it('counts the rules naming roles that one subject can match: those of at most 1,000 roles', async () => {
    // 2,500 rules of ~2,000 steps each, 5M in all; a subject holds at most 1,000 roles (more
    // are denied unevaluated), so with a role each it matches at most 1,000 of them.
    const condition = 'subject.id in resource.properties.readers || subject.id in resource.properties.writers';
    const tenants = (roleOf: (i: number) => string) => ({
      id: 'tenants',
      resource: 'doc',
      rules: Array.from({ length: 2500 }, (_, i) => rule(`t${String(i)}`, ['read'], condition, [roleOf(i)])),
    });
    expect((await validate({ 'tenants.json': tenants((i) => `tenant-${String(i)}`) })).code).toBe(0);
    // 500 roles, five rules each: a subject holding them all matches every rule.
    const { code, lines } = await validate({ 'tenants.json': tenants((i) => `tenant-${String(i % 500)}`) });
    expect(code).toBe(1);
    expect(lines[0]).toMatch(/^error tenants\.json \$\.rules\[1987\]\.condition \(rule t1987\): too costly together: one decision for action "read" on resource type "doc" may evaluate conditions of up to 5032500 steps/);
  }, 20_000);
});
