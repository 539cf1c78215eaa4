import { preparsePolicySet, statefulIsAuthorized, type StatefulAuthorizationCall } from '@cedar-policy/cedar-wasm/nodejs';
import type { Effect, Query } from '../src/decision/types.js';
import { compilePolicies } from '../src/policy/compile.js';
import type { CompiledPolicySet } from '../src/policy/compiled.js';
import { evaluate } from '../src/policy/evaluate.js';
import { scaleWorkload, types, type ScaleCase, type ScaleExpectation, type ScaleQuery, type ScaleWorkload } from './scale-workload.js';
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

function toQuery({ type, action, held, tier, level }: ScaleQuery, i: number): Query {
  return {
    subject: { type: 'user', id: `u${i}`, roles: held, scopes: [], aliases: [], properties: { level } },
    action: { name: action, properties: {} },
    resource: { type: `type${type}`, id: `r${i}`, properties: { tier } },
    context: {},
  };
}

function toCedar({ type, action, held, tier, level }: ScaleQuery, i: number, policySetId: string): StatefulAuthorizationCall {
  return {
    principal: { type: 'User', id: `u${i}` },
    action: { type: 'Action', id: action },
    resource: { type: `Type${type}`, id: `r${i}` },
    context: {},
    preparsedPolicySetId: policySetId,
    entities: [
      { uid: { type: 'User', id: `u${i}` }, attrs: { roles: [...held], level }, parents: [] },
      { uid: { type: `Type${type}`, id: `r${i}` }, attrs: { tier }, parents: [] },
    ],
  };
}

function mismatch(engine: string, workload: ScaleWorkload, c: ScaleCase, got: ScaleExpectation): string | undefined {
  if (got.decision === c.expect.decision && got.rules.join() === c.expect.rules.join()) return undefined;
  const { type, action, held, tier, level } = c.query;
  return `${engine} at ${workload.rules} rules: type${type}: ${action} by roles ${held.join(',')} at level ${level} on tier ${tier} ` +
    `decided ${got.decision} by [${got.rules.join(',')}], expected ${c.expect.decision} by [${c.expect.rules.join(',')}]`;
}

/**
 * Checks every timed query and every probe against the compiled set, decision and deciding
 * rules, and throws at the first that differs: timing a wrong index would report a figure.
 */
export function checkScale(set: CompiledPolicySet, workload: ScaleWorkload): void {
  const now = new Date();
  [...workload.timed, ...workload.probes].forEach((c, i) => {
    const verdict = evaluate(set, toQuery(c.query, i), now);
    const rules = verdict.reasons.flatMap((r) => ('code' in r ? [] : [r.rule])).sort();
    const wrong = mismatch('invoice-pdp', workload, c, { decision: verdict.decision, rules });
    if (wrong !== undefined) throw new Error(wrong);
  });
}

/**
 * The rule a Cedar policy id names. Cedar names the policies of a text `policy0`, `policy1`… in
 * their order (not by their `@id`); keyed by id instead, the same set evaluated 10–20% slower.
 */
function cedarRule(ids: readonly string[], id: string): string {
  return ids[Number(/^policy(\d+)$/.exec(id)?.[1] ?? Number.NaN)] ?? id;
}

/**
 * Checks Cedar's answers to the first `count` timed queries, the ones it is timed on, and to a
 * few probes decided by a deny and by a permit, which the timed queries may not reach: a call
 * costs Cedar a scan of every policy, so it is not asked every probe.
 */
function checkCedar(workload: ScaleWorkload, policySetId: string, count: number): void {
  const ids = workload.policies.flatMap((list) => list.map((r) => r.id));
  const decidedBy = (decision: Effect) => workload.probes.filter((p) => p.expect.decision === decision && p.expect.rules.length > 0).slice(0, 4);
  const cases = [...workload.timed.slice(0, count), ...decidedBy('deny'), ...decidedBy('permit')];
  cases.forEach((c, i) => {
    const answer = statefulIsAuthorized(toCedar(c.query, i, policySetId));
    if (answer.type !== 'success') throw new Error(`cedar at ${workload.rules} rules: ${JSON.stringify(answer.errors.slice(0, 2))}`);
    const rules = answer.response.diagnostics.reason.map((id) => cedarRule(ids, id)).sort();
    const wrong = mismatch('cedar', workload, c, { decision: answer.response.decision === 'allow' ? 'permit' : 'deny', rules });
    if (wrong !== undefined) throw new Error(wrong);
  });
}

/**
 * Evaluation time against generated policy sets of growing size over 100 resource types.
 * Cedar runs the same rules when `cedarBudget` > 0 (about that many rule evaluations in all,
 * split so larger sets get fewer calls), as a reference that scans every policy.
 */
export function runScale(sizes: readonly number[], iterations: number, cedarBudget: number): ScalePoint[] {
  return sizes.map((rules) => {
    const workload = scaleWorkload(rules);
    const started = process.hrtime.bigint();
    const set = compilePolicies(workload.files);
    const compileMs = Number(process.hrtime.bigint() - started) / 1e6;
    checkScale(set, workload);
    const qs = workload.timed.map((c, i) => toQuery(c.query, i));
    const now = new Date();
    const run = (i: number) => evaluate(set, qs[i & 255] as Query, now);
    // As many calls again first: with fewer, the first size's p99 caught the optimiser at work (10–16 µs).
    timeCalls(iterations, run);
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
    const policySetId = `scale-${rules}`;
    const parsed = preparsePolicySet(policySetId, { staticPolicies: workload.cedar });
    if (parsed.type !== 'success') throw new Error(`cedar scale policies: ${JSON.stringify(parsed.errors.slice(0, 2))}`);
    checkCedar(workload, policySetId, cedarIterations);
    const calls = workload.timed.map((c, i) => toCedar(c.query, i, policySetId));
    const runCedar = (i: number) => statefulIsAuthorized(calls[i & 255] as StatefulAuthorizationCall);
    timeCalls(Math.ceil(cedarIterations / 5), runCedar);
    const theirs = summarise(timeCalls(cedarIterations, runCedar));
    return { ...point, cedar: { medianNs: round(theirs.median), p99Ns: round(theirs.p99), iterations: cedarIterations } };
  });
}
