import { preparsePolicySet, statefulIsAuthorized, type StatefulAuthorizationCall } from '@cedar-policy/cedar-wasm/nodejs';
import type { Query } from '../src/decision/types.js';
import { compilePolicies, type PolicyFile } from '../src/policy/compile.js';
import { evaluate } from '../src/policy/evaluate.js';
import type { RuleSource } from '../src/policy/schema.js';
import { round, summarise, timeCalls } from './stats.js';

/** Evaluation time at one policy size. */
export interface ScalePoint {
  readonly rules: number;
  readonly resourceTypes: number;
  readonly rulesPerType: number;
  readonly compileMs: number;
  readonly ours: { readonly medianNs: number; readonly p99Ns: number };
  readonly cedar?: { readonly medianNs: number; readonly p99Ns: number; readonly iterations: number };
}

const types = 100;
const actions = ['read', 'list', 'create', 'update', 'delete', 'approve', 'export', 'share', 'archive', 'restore'];
const roles = Array.from({ length: 20 }, (_, i) => `role${i}`);

// A small deterministic generator, so every run measures the same policy set and queries.
function lcg(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
}

function pick<T>(random: () => number, from: readonly T[]): T {
  return from[Math.floor(random() * from.length)] as T;
}

function generate(rules: number): { files: PolicyFile[]; cedar: string } {
  const random = lcg(rules);
  const perType = rules / types;
  const files: PolicyFile[] = [];
  const cedar: string[] = [];
  for (let t = 0; t < types; t++) {
    const resource = `type${t}`;
    const list: RuleSource[] = [];
    for (let r = 0; r < perType; r++) {
      const effect = r % 10 === 9 ? 'deny' : 'permit';
      const action = pick(random, actions);
      const role = pick(random, roles);
      const tier = `t${r % 7}`;
      const level = r % 5;
      list.push({ id: `r${r}`, effect, actions: [action], roles: [role], condition: `resource.properties.tier == "${tier}" && subject.properties.level >= ${level}.0` });
      cedar.push(`@id("${resource}-r${r}") ${effect === 'deny' ? 'forbid' : 'permit'} (principal, action == Action::"${action}", resource is ${resource.replace('type', 'Type')}) when { principal.roles.contains("${role}") && resource.tier == "${tier}" && principal.level >= ${level} };`);
    }
    files.push({ file: `${resource}.json`, policy: { id: resource, resource, rules: list } });
  }
  return { files, cedar: cedar.join('\n') };
}

interface GeneratedQuery {
  readonly query: Query;
  readonly cedar: StatefulAuthorizationCall;
}

function queries(count: number, policySetId: string): GeneratedQuery[] {
  const random = lcg(7);
  return Array.from({ length: count }, (_, i) => {
    const type = Math.floor(random() * types);
    const action = pick(random, actions);
    const held = [pick(random, roles), pick(random, roles)];
    const tier = `t${Math.floor(random() * 7)}`;
    const level = Math.floor(random() * 5);
    const cedarCall: StatefulAuthorizationCall = {
      principal: { type: 'User', id: `u${i}` },
      action: { type: 'Action', id: action },
      resource: { type: `Type${type}`, id: `r${i}` },
      context: {},
      preparsedPolicySetId: policySetId,
      entities: [
        { uid: { type: 'User', id: `u${i}` }, attrs: { roles: held, level }, parents: [] },
        { uid: { type: `Type${type}`, id: `r${i}` }, attrs: { tier }, parents: [] },
      ],
    };
    return {
      query: {
        subject: { type: 'user', id: `u${i}`, roles: held, scopes: [], aliases: [], properties: { level } },
        action: { name: action, properties: {} },
        resource: { type: `type${type}`, id: `r${i}`, properties: { tier } },
        context: {},
      },
      cedar: cedarCall,
    };
  });
}

/**
 * Evaluation time against generated policy sets of growing size over 100 resource types.
 * Cedar runs the same rules when `cedarBudget` > 0 (about that many rule evaluations in all,
 * split so larger sets get fewer calls), as a reference that scans every policy.
 */
export function runScale(sizes: readonly number[], iterations: number, cedarBudget: number): ScalePoint[] {
  return sizes.map((rules) => {
    const { files, cedar } = generate(rules);
    const started = process.hrtime.bigint();
    const set = compilePolicies(files);
    const compileMs = Number(process.hrtime.bigint() - started) / 1e6;
    const policySetId = `scale-${rules}`;
    const qs = queries(256, policySetId);
    const now = new Date();
    const run = (i: number) => evaluate(set, (qs[i & 255] as GeneratedQuery).query, now);
    timeCalls(Math.min(iterations, 20_000), run);
    const ours = summarise(timeCalls(iterations, run));
    const point: ScalePoint = {
      rules,
      resourceTypes: types,
      rulesPerType: rules / types,
      compileMs: round(compileMs),
      ours: { medianNs: round(ours.median), p99Ns: round(ours.p99) },
    };
    if (cedarBudget === 0) return point;
    const cedarIterations = Math.max(30, Math.round(cedarBudget / rules));
    const parsed = preparsePolicySet(policySetId, { staticPolicies: cedar });
    if (parsed.type !== 'success') throw new Error(`cedar scale policies: ${JSON.stringify(parsed.errors.slice(0, 2))}`);
    const runCedar = (i: number) => statefulIsAuthorized((qs[i & 255] as GeneratedQuery).cedar);
    timeCalls(Math.ceil(cedarIterations / 5), runCedar);
    const theirs = summarise(timeCalls(cedarIterations, runCedar));
    return { ...point, cedar: { medianNs: round(theirs.median), p99Ns: round(theirs.p99), iterations: cedarIterations } };
  });
}
