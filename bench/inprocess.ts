import { resolve } from 'node:path';
import type { Query } from '../src/decision/types.js';
import { evaluate } from '../src/policy/evaluate.js';
import { loadPolicyDir } from '../src/policy/load.js';
import { claimsToSubject } from '../src/token/claims.js';
import { cedarCall, cedarDecide, prepareCedar } from './peers/cedar.js';
import { round, summarise, timeCalls, type Summary } from './stats.js';
import { workload, type WorkloadCase } from './workload.js';

export interface EngineResult {
  readonly engine: string;
  readonly what: string;
  readonly iterations: number;
  readonly ns: { readonly median: number; readonly p99: number; readonly mean: number };
}

export interface InProcessResult {
  readonly cases: number;
  readonly timerOverheadNs: number;
  readonly engines: readonly EngineResult[];
}

function toQuery(c: WorkloadCase): Query {
  return {
    subject: claimsToSubject(c.claims, 'user', c.subjectId),
    action: { name: c.action, properties: {} },
    resource: { type: 'invoice', id: c.resource.id, properties: c.resource.properties },
    context: c.context,
  };
}

function check(engine: string, decide: (c: WorkloadCase, i: number) => string): void {
  workload.forEach((c, i) => {
    const got = decide(c, i);
    if (got !== c.expect) throw new Error(`${engine}: "${c.name}" decided ${got}, expected ${c.expect}`);
  });
}

function row(engine: string, what: string, samples: Float64Array): EngineResult {
  const s: Summary = summarise(samples);
  return { engine, what, iterations: s.n, ns: { median: round(s.median), p99: round(s.p99), mean: round(s.mean) } };
}

/** Median and p99 ns per decision over the mixed workload: our evaluator and Cedar's. */
export async function runInProcess(iterations: number, cedarIterations: number): Promise<InProcessResult> {
  const set = await loadPolicyDir(resolve('policies'));
  const now = new Date();
  const queries = workload.map(toQuery);
  const n = workload.length;
  const warm = Math.min(iterations, 20_000);

  check('invoice-pdp', (_c, i) => evaluate(set, queries[i % n] as Query, now).decision);
  timeCalls(warm, (i) => evaluate(set, queries[i % n] as Query, now));
  const ours = timeCalls(iterations, (i) => evaluate(set, queries[i % n] as Query, now));

  timeCalls(warm, (i) => claimsToSubject(workload[i % n]?.claims ?? {}));
  const withSubject = timeCalls(iterations, (i) => {
    const c = workload[i % n] as WorkloadCase;
    const q = queries[i % n] as Query;
    return evaluate(set, { ...q, subject: claimsToSubject(c.claims, 'user', c.subjectId) }, now);
  });

  prepareCedar();
  const calls = workload.map(cedarCall);
  check('cedar', (_c, i) => cedarDecide(calls[i % n] as (typeof calls)[number]));
  timeCalls(Math.ceil(cedarIterations / 5), (i) => cedarDecide(calls[i % n] as (typeof calls)[number]));
  const cedar = timeCalls(cedarIterations, (i) => cedarDecide(calls[i % n] as (typeof calls)[number]));

  const overhead = summarise(timeCalls(100_000, (i) => i)).median;
  return {
    cases: n,
    timerOverheadNs: round(overhead),
    engines: [
      row('invoice-pdp', 'evaluate(): compiled policies, subject already mapped', ours),
      row('invoice-pdp', 'claims → subject mapping + evaluate()', withSubject),
      row('cedar-wasm', 'statefulIsAuthorized(): preparsed policy set, entities per call', cedar),
    ],
  };
}
