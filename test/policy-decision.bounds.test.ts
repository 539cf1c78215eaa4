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

  it('counts, past 1,000 roles, the costliest roles\' rules whatever their order, each role\'s rules together, and the rules naming none', async () => {
    const cheap = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => rule(`${prefix}${String(i)}`, ['read'], 'subject.id == "x"', [`${prefix}${String(i)}`]));
    // 1,001 roles: a subject holding "heavy", "late" and 998 others matches the four costly
    // rules, ~4,028,000 steps with the one naming no role.
    const ledger = {
      id: 'ledger',
      resource: 'ledger',
      rules: [rule('open', ['read'], owner), rule('heavy-1', ['read'], approver, ['heavy']), rule('heavy-2', ['read'], blocked, ['heavy']), ...cheap('c', 999), rule('late', ['read'], approver, ['late'])],
    };
    // 1,013 roles, the costly ones written last: 13 rules of ~322,000 steps, ~4,189,000 in all.
    const aliases = `subject.aliases.exists(a, ${['readers', 'writers', 'owners', 'approvers', 'auditors'].map((list) => `a in resource.properties.${list}`).join(' || ')})`;
    const archive = {
      id: 'archive',
      resource: 'archive',
      rules: [...cheap('c', 1000), ...Array.from({ length: 13 }, (_, i) => rule(`alias-${String(i)}`, ['read'], aliases, [`alias-${String(i)}`]))],
    };
    const { code, lines } = await validate({ 'ledger.json': ledger, 'archive.json': archive });
    expect(code).toBe(1);
    expect(lines.slice(0, 2)).toEqual([
      expect.stringMatching(/^error archive\.json \$\.rules\[1012\]\.condition \(rule alias-12\): too costly together: one decision for action "read" on resource type "archive" may evaluate conditions of up to 4188934 steps/),
      expect.stringMatching(/^error ledger\.json \$\.rules\[1002\]\.condition \(rule late\): too costly together: one decision for action "read" on resource type "ledger" may evaluate conditions of up to 4028001 steps/),
    ]);
  }, 20_000);
});
