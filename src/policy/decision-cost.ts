import { jsonLimits } from '../json-limits.js';
import { maxConditionSteps } from './cel-cost.js';
import type { CompiledRule } from './compiled.js';
import type { PolicyIssue, RuleLocation } from './errors.js';

/**
 * Most evaluation steps the conditions one decision can evaluate may take together, each costed
 * as cel-cost.ts costs it: two conditions at their bound. The bound on each condition alone let
 * a request matching 50 costly rules hold the event loop 50 times as long as one. Measured
 * (Node 20): `context.a.exists(x, x in context.b)` on two lists of 1,000 strings takes 5.5 ns a
 * step, on strings of 400 characters (0.8 MB) 25 ns, so a decision holds the loop ~22 ms, and
 * ~100 ms at the slowest step measured; it admits three conditions with one scan nested in a
 * comprehension (~1M steps each) for one action.
 */
const maxDecisionSteps = 2 * maxConditionSteps;

/** Most roles a subject whose conditions are evaluated holds: evaluate() denies one with more, unevaluated. */
const mostRoles = jsonLimits.maxCollection;

/** A rule with a condition, and where it was written. */
interface Located {
  readonly rule: CompiledRule;
  readonly where: RuleLocation;
}

const stepsOf = (rule: CompiledRule): number => rule.condition?.steps ?? 0;

const sumOf = (rules: readonly Located[]): number => rules.reduce((total, { rule }) => total + stepsOf(rule), 0);

/**
 * Entries (a rule, the rule under one of its roles, a role's total) read between two yields:
 * the candidates of an action naming a million roles in all, as many as the rule index may
 * hold, were read in one piece of ~0.7 s, which held the event loop that long in a reload.
 */
const entriesPerYield = 10_000;

/** Puts `total` in place of the least value of min-heap `heap`, and moves it down to where it belongs. */
function replaceLeast(heap: Float64Array, total: number): void {
  let at = 0;
  for (;;) {
    let child = 2 * at + 1;
    if (child >= heap.length) break;
    if (child + 1 < heap.length && (heap[child + 1] ?? 0) < (heap[child] ?? 0)) child += 1;
    const value = heap[child] ?? 0;
    if (value >= total) break;
    heap[at] = value;
    at = child;
  }
  heap[at] = total;
}

/**
 * The sum of the `most` largest of `totals`, of which there are more, kept in a min-heap: a
 * sort of a million totals took ~65 ms in one piece. Yields after each `entriesPerYield` totals.
 */
function* largestSum(totals: Iterable<number>, most: number): Generator<void, number, void> {
  const heap = new Float64Array(most);
  let sum = 0;
  let read = 0;
  for (const total of totals) {
    if (read < most) {
      heap[read] = total;
      sum += total;
      // In ascending order, the first `most` make a min-heap.
      if (read === most - 1) heap.sort();
    } else if (total > (heap[0] ?? 0)) {
      sum += total - (heap[0] ?? 0);
      replaceLeast(heap, total);
    }
    read += 1;
    if (read % entriesPerYield === 0) yield;
  }
  return sum;
}

/**
 * The most steps one decision may take evaluating the conditions of `rules`, the candidates of
 * one action: those of every rule naming no role, and of the rules naming roles, those a subject
 * can match with `mostRoles` roles, no more than the costliest roles' rules together. Where the
 * rules name no more roles than that, one subject can hold them all. Yields after each
 * `entriesPerYield` entries read (a rule, and the rule under each of its roles).
 */
function* decisionSteps(rules: readonly Located[]): Generator<void, number, void> {
  let open = 0;
  let named = 0;
  let entries = 0;
  const byRole = new Map<string, number>();
  for (const { rule } of rules) {
    const steps = stepsOf(rule);
    if (rule.roles === undefined) {
      open += steps;
    } else {
      named += steps;
      for (const role of rule.roles) byRole.set(role, (byRole.get(role) ?? 0) + steps);
    }
    entries += 1 + (rule.roles?.size ?? 0);
    if (entries >= entriesPerYield) {
      entries = 0;
      yield;
    }
  }
  if (byRole.size <= mostRoles) return open + named;
  return open + Math.min(named, yield* largestSum(byRole.values(), mostRoles));
}

/**
 * Where `rules`, over `maxDecisionSteps`, pass it: the last of the shortest start of the list
 * over the bound (`decisionSteps` only grows as rules are added). Yields after each start tried,
 * and as `decisionSteps` does.
 */
function* crossing(rules: readonly Located[]): Generator<void, Located, void> {
  let within = 0;
  let over = rules.length;
  while (over - within > 1) {
    const middle = (within + over) >>> 1;
    if ((yield* decisionSteps(rules.slice(0, middle))) > maxDecisionSteps) over = middle;
    else within = middle;
    yield;
  }
  return rules[over - 1] as Located;
}

/** The rules with a condition, by resource type, in the order they were written. */
function conditionedByType(locations: ReadonlyMap<CompiledRule, RuleLocation>): Map<string, Located[]> {
  const byType = new Map<string, Located[]>();
  for (const [rule, where] of locations) {
    if (rule.condition === undefined) continue;
    const rules = byType.get(where.type) ?? [];
    byType.set(where.type, rules);
    rules.push({ rule, where });
  }
  return byType;
}

/**
 * The problem with the rules with a condition of resource type `type`, if one decision on it
 * may evaluate conditions of more than `maxDecisionSteps`: at the condition that takes the
 * candidates of an action past the bound, the `*` rules counted first (they are among every
 * action's candidates, and alone those of an action no rule names). Their plain sum is a bound
 * read without building any list; only candidates over it are read by role, one list at a time.
 */
function* costlyType(type: string, rules: readonly Located[]): Generator<void, PolicyIssue | undefined, void> {
  const anyAction = rules.filter(({ rule }) => rule.actions.includes('*'));
  const byAction = new Map<string, Located[]>([['*', []]]);
  for (const located of rules) {
    if (located.rule.actions.includes('*')) continue;
    for (const action of new Set(located.rule.actions)) {
      const list = byAction.get(action) ?? [];
      byAction.set(action, list);
      list.push(located);
    }
  }
  const anySteps = sumOf(anyAction);
  for (const [action, own] of byAction) {
    if (anySteps + sumOf(own) <= maxDecisionSteps) continue;
    const candidates = anyAction.concat(own);
    const steps = yield* decisionSteps(candidates);
    yield;
    if (steps <= maxDecisionSteps) continue;
    const { rule, where } = yield* crossing(candidates);
    const which = action === '*' ? `any action on resource type "${type}"` : `action "${action}" on resource type "${type}"`;
    return {
      file: where.file,
      path: `${where.path}.condition`,
      rule: rule.id,
      message: `too costly together: one decision for ${which} may evaluate conditions of up to ${steps} steps in all (at most ${maxDecisionSteps}), those of its rules ("*" rules included) one subject's roles can match; this condition (${stepsOf(rule)} steps) takes them past the bound: make fewer of them costly (a comprehension over request lists costs most)`,
    };
  }
  return undefined;
}

/**
 * The problems with a set where one decision could evaluate conditions of more than
 * `maxDecisionSteps` in all, one per resource type (see `costlyType`); yields after each type,
 * and each list of candidates read by role. `locations` holds every rule in the order written;
 * run once the rule index is known to be within its bound, which bounds the reading by role.
 */
export function* costlyDecisions(locations: ReadonlyMap<CompiledRule, RuleLocation>): Generator<void, PolicyIssue[], void> {
  const issues: PolicyIssue[] = [];
  for (const [type, rules] of conditionedByType(locations)) {
    const issue = yield* costlyType(type, rules);
    if (issue !== undefined) issues.push(issue);
    yield;
  }
  return issues;
}
