import { beforeAll, describe, expect, it } from 'vitest';
import type { CompiledPolicySet } from '../src/policy/compiled.js';
import { evaluate, type RuleTrace } from '../src/policy/evaluate.js';
import { loadPolicyDir } from '../src/policy/load.js';
import { fixtureQuery, loadFixtures } from '../src/policy/testing.js';
import { defaultPolicyDir } from './helpers/app.js';
import { runCli } from './helpers/process.js';

describe('the default invoice policies', () => {
  it('pass every fixture in policies/tests (pdp test policies, as npm run policies:test runs it)', async () => {
    const run = await runCli(['test', 'policies']);
    expect(run.stdout).toMatch(/^\d+ passed, 0 failed\n$/);
    expect(run.code).toBe(0);
  });

  describe('fixture coverage', () => {
    let set: CompiledPolicySet;
    const traces: { name: string; trace: RuleTrace[] }[] = [];

    beforeAll(async () => {
      set = await loadPolicyDir(defaultPolicyDir);
      for (const { fixture } of await loadFixtures(`${defaultPolicyDir}/tests`)) {
        for (const testCase of fixture.cases) {
          const trace: RuleTrace[] = [];
          evaluate(set, fixtureQuery(testCase.request), new Date(fixture.now ?? Date.now()), trace);
          traces.push({ name: testCase.name, trace });
        }
      }
    });

    it('has cases for every rule of the issue table, P1–P6 and D1–D3', () => {
      const ids = set.policies.flatMap((p) => p.rules.map((r) => r.id.split('-')[0]));
      expect(ids.sort()).toEqual(['D1', 'D2', 'D3', 'P1', 'P2', 'P3', 'P4', 'P5', 'P6']);
    });

    it('covers both sides of every rule: one case where it applies, one where its action matches and it does not', () => {
      const uncovered: string[] = [];
      for (const rule of set.policies.flatMap((p) => p.rules)) {
        const seen = traces.flatMap(({ trace }) => trace.filter((t) => t.rule === rule.id));
        if (!seen.some((t) => t.applied)) uncovered.push(`${rule.id}: never applies`);
        if (!seen.some((t) => t.action && !t.applied)) uncovered.push(`${rule.id}: never fails to apply`);
        const conditionFalse = seen.some((t) => t.condition !== null && 'value' in t.condition && t.condition.value === false);
        if (rule.condition !== undefined && !conditionFalse) uncovered.push(`${rule.id}: its condition is never false`);
      }
      expect(uncovered).toEqual([]);
    });
  });
});
