import { byCodeUnits } from '../code-unit-order.js';
import type { Effect } from '../decision/types.js';
import type { CompiledPolicySet } from './compiled.js';
import type { RuleTrace } from './evaluate.js';

/**
 * How the test cases exercised one rule. A rule is covered when some case saw it apply and,
 * when it has a condition, some case saw that condition come out false while the action,
 * roles and scopes matched: both outcomes of the condition were tried. A condition that
 * failed to evaluate counts for neither side.
 */
export interface RuleCoverage {
  readonly policy: string;
  readonly rule: string;
  readonly effect: Effect;
  readonly hasCondition: boolean;
  /** Cases in which the rule applied (its condition, if any, true). */
  readonly applied: number;
  /** Cases in which action, roles and scopes matched and the condition was false. */
  readonly declined: number;
  /** Cases in which the condition failed to evaluate. */
  readonly errored: number;
  readonly covered: boolean;
  /** The sides no case exercised: `applied`, `condition false`. */
  readonly missing: readonly string[];
}

/** Covered rules out of all rules. */
export interface CoverageTally {
  readonly covered: number;
  readonly total: number;
}

/** Rule coverage of a test run, overall and per effect side. */
export interface CoverageReport {
  readonly rules: readonly RuleCoverage[];
  readonly permit: CoverageTally;
  readonly deny: CoverageTally;
  readonly total: CoverageTally;
  /** Covered rules as a percentage of all rules, 0–100. */
  readonly percent: number;
}

interface Counts {
  policy: string;
  rule: string;
  effect: Effect;
  hasCondition: boolean;
  applied: number;
  declined: number;
  errored: number;
}

/** Collects explain traces of test cases and reports which rules they exercised. */
export class CoverageRecorder {
  readonly #counts = new Map<string, Counts>();

  constructor(set: CompiledPolicySet) {
    for (const rules of set.byResource.values()) {
      for (const rule of rules.all) {
        this.#counts.set(`${rule.policy}\u0000${rule.id}`, {
          policy: rule.policy,
          rule: rule.id,
          effect: rule.effect,
          hasCondition: rule.condition !== undefined,
          applied: 0,
          declined: 0,
          errored: 0,
        });
      }
    }
  }

  record(trace: readonly RuleTrace[]): void {
    for (const entry of trace) {
      const counts = this.#counts.get(`${entry.policy}\u0000${entry.rule}`);
      if (counts === undefined) continue;
      const { condition } = entry;
      if (condition?.error !== undefined) counts.errored += 1;
      else if (entry.applied) counts.applied += 1;
      else if (condition?.value === false) counts.declined += 1;
    }
  }

  report(): CoverageReport {
    const rules = [...this.#counts.values()]
      .map((counts): RuleCoverage => {
        const missing: string[] = [];
        if (counts.applied === 0) missing.push('applied');
        if (counts.hasCondition && counts.declined === 0) missing.push('condition false');
        return { ...counts, covered: missing.length === 0, missing };
      })
      .sort((a, b) => byCodeUnits(a.policy, b.policy) || byCodeUnits(a.rule, b.rule));
    const tally = (effect?: Effect): CoverageTally => {
      const selected = rules.filter((r) => effect === undefined || r.effect === effect);
      return { covered: selected.filter((r) => r.covered).length, total: selected.length };
    };
    const total = tally();
    return {
      rules,
      permit: tally('permit'),
      deny: tally('deny'),
      total,
      percent: total.total === 0 ? 100 : (100 * total.covered) / total.total,
    };
  }
}
