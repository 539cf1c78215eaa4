import { describe, expect, it } from 'vitest';
import { loadPolicyDir } from '../src/policy/load.js';
import { defaultPolicyDir } from './helpers/app.js';
import { runCli } from './helpers/process.js';

describe('the default invoice policies', () => {
  it('pass every fixture in policies/tests (pdp test policies, as npm run policies:test runs it)', async () => {
    const run = await runCli(['test', 'policies']);
    expect(run.stdout).toMatch(/\b\d+ passed, 0 failed\b/);
    expect(run.code).toBe(0);
  });

  it('have a rule for every line of the invoice rule table, P1–P6 and D1–D3', async () => {
    const set = await loadPolicyDir(defaultPolicyDir);
    const ids = set.policies.flatMap((p) => p.rules.map((r) => r.id.split('-')[0]));
    expect(ids.sort()).toEqual(['D1', 'D2', 'D3', 'P1', 'P2', 'P3', 'P4', 'P5', 'P6']);
  });

  it('are covered on both sides of every rule by their fixtures (pdp test --coverage --min-coverage 100)', async () => {
    const run = await runCli(['test', 'policies', '--coverage', '--min-coverage', '100', '--json']);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as { coverage: { percent: number; rules: { rule: string; covered: boolean }[] } };
    expect(report.coverage.rules.filter((r) => !r.covered).map((r) => r.rule)).toEqual([]);
    expect(report.coverage.percent).toBe(100);
  });
});
