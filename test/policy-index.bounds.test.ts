import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { tempDir, writeFiles } from './helpers/policy-dir.js';

const removals: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(removals.splice(0).map((remove) => remove()));
});

/** A policy of `stars` deny rules for "*" and `named` actions named 1,000 to a permit rule. */
function starPolicy(stars: number, named: number) {
  const rules: Record<string, unknown>[] = [];
  for (let i = 0; i < named / 1000; i += 1) {
    rules.push({ id: `n${String(i)}`, effect: 'permit', actions: Array.from({ length: 1000 }, (_, j) => `a${String(i * 1000 + j)}`), roles: ['clerk'] });
  }
  for (let i = 0; i < stars; i += 1) rules.push({ id: `s${String(i)}`, effect: 'deny', actions: ['*'], condition: `resource.properties.level == ${String(i)}` });
  return { id: 'p', resource: 'doc', rules };
}

async function policyDir(files: Record<string, unknown>): Promise<string> {
  const dir = await tempDir('pdp-index-');
  removals.push(dir.remove);
  await writeFiles(dir.path, files);
  return dir.path;
}

describe('the rule index of a policy set', () => {
  it('refuses a set whose index would pass 1,000,000 entries, at the rule that adds most', async () => {
    // 10,000 "*" rules beside 10,000 action names (0.5 MB): before, 14 s and 1.7 GB to validate,
    // and a reload held the service for 18 s; twice that ran it out of memory.
    const dir = await policyDir({ 'p.json': starPolicy(10_000, 10_000) });
    const run = await runCli(['validate', dir]);
    expect(run.code).toBe(1);
    expect(run.stderr.trimEnd().split('\n')).toEqual([
      'error p.json $.rules[10].actions (rule s0): the rule index of this policy set would hold 100030000 entries, over the 1000000 it may: a rule is listed under each action it names ("*": every action its resource type\'s rules name), and once more for each role it names; this rule, of resource type "doc", makes 10001 of them (10001 actions × 1)',
      'invalid: 1 problem(s)',
    ]);
  }, 20_000);

  it('takes a set within the bound, and a "*" deny still applies to every action named', async () => {
    const dir = await policyDir({ 'p.json': starPolicy(400, 2000) });
    expect((await runCli(['validate', dir])).code).toBe(0);
    const request = { subject: { id: 'u', properties: { roles: ['clerk'] } }, action: 'a1999', resource: { type: 'doc', id: 'd', properties: { level: 399 } } };
    const denied = await runCli(['check', dir, '--request', '-', '--json'], { input: JSON.stringify(request) });
    expect(JSON.parse(denied.stdout)).toMatchObject({ decision: 'deny', reasons: [{ rule: 's399', effect: 'deny' }] });
  }, 20_000);
});
