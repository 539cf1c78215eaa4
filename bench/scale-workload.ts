import type { Effect } from '../src/decision/types.js';
import type { PolicyFile } from '../src/policy/compile.js';
import type { RuleSource } from '../src/policy/schema.js';

/**
 * The scale section's workload: policy sets of a given size over 100 resource types, the
 * queries timed against them and a probe per rule, each with the decision the rules give it.
 */
export const types = 100;
const actions = ['read', 'list', 'create', 'update', 'delete', 'approve', 'export', 'share', 'archive', 'restore'];
const roles = Array.from({ length: 20 }, (_, i) => `role${i}`);

// A small deterministic generator, so every run measures the same policy set and queries. The
// product is taken in 32-bit integers: as a double it passes 2^53 and loses its low bits, and the
// sequence fell into a cycle of 10,466 draws instead of 2^31.
function lcg(seed: number): () => number {
  let state = seed;
  return () => {
    state = (Math.imul(state, 1_103_515_245) + 12_345) & 0x7f_ff_ff_ff;
    return state / 2_147_483_648;
  };
}

function pick<T>(random: () => number, from: readonly T[]): T {
  return from[Math.floor(random() * from.length)] as T;
}

/**
 * One generated rule: `effect` on `action` for a subject holding `role`, when the resource's tier
 * is `tier` and the subject's level is at least `level`.
 */
export interface ScaleRule {
  readonly id: string;
  readonly effect: Effect;
  readonly action: string;
  readonly role: string;
  readonly tier: string;
  readonly level: number;
}

/** One generated question, on resource type `type${type}`. */
export interface ScaleQuery {
  readonly type: number;
  readonly action: string;
  readonly held: readonly string[];
  readonly tier: string;
  readonly level: number;
}

/** What a query must get: its decision and the rules that decide it, by id, sorted. */
export interface ScaleExpectation {
  readonly decision: Effect;
  readonly rules: readonly string[];
}

export interface ScaleCase {
  readonly query: ScaleQuery;
  readonly expect: ScaleExpectation;
}

/**
 * One size's policies and questions: the rules of each type by index, as policy files and as
 * Cedar; the 256 queries timed, half of them asking what some rule names; and a probe per rule, asking what that rule names at its lowest
 * level, so that a rule the index never reads, or reads for the wrong question, changes a decision.
 */
export interface ScaleWorkload {
  readonly rules: number;
  readonly policies: readonly (readonly ScaleRule[])[];
  readonly files: PolicyFile[];
  /** The same rules in Cedar, in the order of `policies`. */
  readonly cedar: string;
  readonly timed: readonly ScaleCase[];
  readonly probes: readonly ScaleCase[];
}

/**
 * The decision the generator's rules give `query`: default deny, any applicable deny beats every
 * permit, and the rules deciding are every applicable rule of the winning effect.
 */
export function expectedDecision(rules: readonly ScaleRule[], query: Omit<ScaleQuery, 'type'>): ScaleExpectation {
  const applies = rules.filter((r) => r.action === query.action && query.held.includes(r.role) && r.tier === query.tier && query.level >= r.level);
  const denies = applies.filter((r) => r.effect === 'deny');
  const deciding = denies.length > 0 ? denies : applies;
  return { decision: denies.length > 0 || applies.length === 0 ? 'deny' : 'permit', rules: deciding.map((r) => r.id).sort() };
}

function generate(rules: number): ScaleRule[][] {
  const random = lcg(rules);
  const perType = rules / types;
  return Array.from({ length: types }, () =>
    Array.from({ length: perType }, (_, r) => {
      const effect: Effect = r % 10 === 9 ? 'deny' : 'permit';
      const action = pick(random, actions);
      const role = pick(random, roles);
      return { id: `r${r}`, effect, action, role, tier: `t${r % 7}`, level: r % 5 };
    }),
  );
}

function asked(policies: readonly (readonly ScaleRule[])[], query: ScaleQuery): ScaleCase {
  return { query, expect: expectedDecision(policies[query.type] ?? [], query) };
}

/** The policies and questions of one size, the same on every run. */
export function scaleWorkload(rules: number): ScaleWorkload {
  const policies = generate(rules);
  const files: PolicyFile[] = policies.map((list, t) => ({
    file: `type${t}.json`,
    policy: {
      id: `type${t}`,
      resource: `type${t}`,
      rules: list.map((r): RuleSource => ({ id: r.id, effect: r.effect, actions: [r.action], roles: [r.role], condition: `resource.properties.tier == "${r.tier}" && subject.properties.level >= ${r.level}.0` })),
    },
  }));
  const cedar = policies.flatMap((list, t) => list.map((r) =>
    `@id("type${t}-${r.id}") ${r.effect === 'deny' ? 'forbid' : 'permit'} (principal, action == Action::"${r.action}", resource is Type${t}) when { principal.roles.contains("${r.role}") && resource.tier == "${r.tier}" && principal.level >= ${r.level} };`));
  const probes = policies.flatMap((list, type) => list.map((r) => asked(policies, { type, action: r.action, held: [r.role], tier: r.tier, level: r.level })));
  const random = lcg(7);
  // Half of them ask what a rule names, with a second role and a level of 0 to 4 (a rule applies,
  // its condition is run, or its level is not reached); half anything at random, which among a
  // type's few rules of the smaller sets mostly finds no rule with its action and roles.
  const timed = Array.from({ length: 256 }, (_, i) => {
    const level = Math.floor(random() * 5);
    const second = pick(random, roles);
    if (i % 2 === 1) {
      const { type, action, held, tier } = pick(random, probes).query;
      return asked(policies, { type, action, held: [...held, second], tier, level });
    }
    const type = Math.floor(random() * types);
    const action = pick(random, actions);
    const tier = `t${Math.floor(random() * 7)}`;
    return asked(policies, { type, action, held: [pick(random, roles), second], tier, level });
  });
  return { rules, policies, files, cedar: cedar.join('\n'), timed, probes };
}
