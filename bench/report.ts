import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { usableCpus } from '../src/cgroup-cpus.js';
import { bareWorkersId, type ScenarioResult } from './http/scenarios.js';
import type { InProcessResult } from './inprocess.js';
import type { MemoryResult } from './memory.js';
import type { ScalePoint } from './scale.js';
import { median } from './stats.js';

/** Where and how a result was measured. */
export interface RunMeta {
  readonly command: string;
  readonly date: string;
  readonly machine: { readonly cores: number; readonly cpu: string; readonly memoryGiB: number; readonly node: string; readonly os: string };
}

export interface HttpResults {
  readonly meta: RunMeta;
  readonly tool: string;
  readonly connections: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly scenarios: readonly ScenarioResult[];
}

export function runMeta(command: string): RunMeta {
  return {
    command,
    date: new Date().toISOString(),
    machine: {
      // The CPUs the run may keep busy, as the service counts them for its default WORKERS: a
      // container's quota or cpuset, not the host's count.
      cores: usableCpus(),
      cpu: cpus()[0]?.model.trim() ?? 'unknown',
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      os: `${process.platform} ${release()}`,
    },
  };
}

const resultsDir = resolve('bench/results');

/** Writes `bench/results/<name>.json`. */
export function writeResult(name: string, data: unknown): string {
  mkdirSync(resultsDir, { recursive: true });
  const file = resolve(resultsDir, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}

function readResult<T>(name: string): T | undefined {
  const file = resolve(resultsDir, `${name}.json`);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : undefined;
}

const ms = (us: number) => (us / 1000).toFixed(2);
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const verdict = (ok: boolean) => (ok ? 'met' : '**not met**');

function measuredLine(meta: RunMeta, extra = ''): string {
  const m = meta.machine;
  return `Measured ${meta.date.slice(0, 16).replace('T', ' ')} UTC with \`${meta.command}\` on ${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB, Node ${m.node}, ${m.os}${extra}.`;
}

function inProcessSection(r: { meta: RunMeta; result: InProcessResult }): string[] {
  const ours = r.result.engines[0];
  const lines = [
    '### In-process: ns per decision',
    '',
    measuredLine(r.meta, `; ${r.result.cases}-case mixed workload (permits, denies, every rule), timer overhead ≈ ${r.result.timerOverheadNs} ns included`),
    '',
    '| engine | what is timed | calls | median ns | p99 ns | mean ns |',
    '|---|---|---:|---:|---:|---:|',
    ...r.result.engines.map((e) => `| ${e.engine} | ${e.what} | ${int(e.iterations)} | ${int(e.ns.median)} | ${int(e.ns.p99)} | ${int(e.ns.mean)} |`),
    '',
  ];
  if (ours !== undefined) lines.push(`Aim: median ≤ 10 µs per decision: ${verdict(ours.ns.median <= 10_000)} (${(ours.ns.median / 1000).toFixed(2)} µs).`, '');
  return lines;
}

/** The measured runs of a scenario: `id`, then its repeats `id#2`, `id#3`… */
function runsOf(scenarios: HttpResults['scenarios'], id: string): HttpResults['scenarios'] {
  return scenarios.filter((s) => (s.id === id || s.id.startsWith(`${id}#`)) && s.load !== undefined);
}

/** The HTTP part of the generated section of BENCHMARKS.md. */
export function httpSection(r: HttpResults): string[] {
  const rows = r.scenarios.map((s) => {
    if (s.load === undefined) return `| ${s.label} | ${s.status} | | | | | | ${s.note ?? ''} |`;
    const l = s.load;
    const decisions = s.decisionsPerRequest > 1 ? ` (${int(l.rps * s.decisionsPerRequest)} decisions/s)` : '';
    return `| ${s.label} | ${int(l.rps)}${decisions} | ${ms(l.latencyUs.p50)} | ${ms(l.latencyUs.p99)} | ${s.ratioToBare === undefined ? '' : `${Math.round(s.ratioToBare * 100)}%`} | ${l.serverCpuUsPerRequest ?? ''} | ${s.serverRssMiB ?? ''} | ${s.note ?? ''} |`;
  });
  // The aims are about the default configuration, which has no decision cache, judged on the
  // median of the headline's runs.
  const headlineRuns = runsOf(r.scenarios, 'decide/subject/off');
  const headline = headlineRuns[0];
  const decide = headline?.load === undefined ? undefined : {
    rps: median(headlineRuns.map((s) => s.load?.rps ?? Number.NaN)),
    p99Us: median(headlineRuns.map((s) => s.load?.latencyUs.p99 ?? Number.NaN)),
  };
  const cerbos = r.scenarios.find((s) => s.id === 'peer/cerbos')?.load;
  const bareRatio = headlineRuns.some((s) => s.ratioToBare === undefined) ? undefined : median(headlineRuns.map((s) => s.ratioToBare ?? Number.NaN));
  const aims: string[] = [];
  if (headline !== undefined) {
    const runs = headlineRuns.length > 1 ? `, the median of its ${headlineRuns.length} runs (${headlineRuns.map((s) => int(s.load?.rps ?? 0)).join(', ')} req/s)` : '';
    aims.push(`Judged on "${headline.label}"${runs}.`, '');
  }
  if (decide !== undefined && bareRatio !== undefined) aims.push(`- \`/decide\` ≥ 70% of the bare route: ${verdict(bareRatio >= 0.7)} (${Math.round(bareRatio * 100)}%).`);
  if (decide !== undefined && cerbos !== undefined) aims.push(`- ≥ 6× Cerbos: ${verdict(decide.rps >= 6 * cerbos.rps)} (${(decide.rps / cerbos.rps).toFixed(1)}×).`);
  else if (decide !== undefined) aims.push('- ≥ 6× Cerbos: not measured in this run (Cerbos skipped).');
  if (decide !== undefined) aims.push(`- p99 ≤ 3 ms at ${r.connections} connections: ${verdict(decide.p99Us <= 3000)} (${ms(decide.p99Us)} ms).`);
  // What the audit line costs over sockets; the aims stay on the default, which writes it.
  const noAuditRuns = runsOf(r.scenarios, 'decide/subject/off/no-audit');
  if (noAuditRuns.length > 0 && noAuditRuns.every((s) => s.ratioToBare !== undefined)) {
    const rps = median(noAuditRuns.map((s) => s.load?.rps ?? Number.NaN));
    const p99Us = median(noAuditRuns.map((s) => s.load?.latencyUs.p99 ?? Number.NaN));
    const ratio = median(noAuditRuns.map((s) => s.ratioToBare ?? Number.NaN));
    const againstCerbos = cerbos === undefined ? '' : `, ${(rps / cerbos.rps).toFixed(1)}× Cerbos`;
    const against = decide === undefined ? '' : `, ${(rps / decide.rps).toFixed(2)}× the headline`;
    aims.push('', `Without the audit line ("${noAuditRuns[0]?.label ?? ''}", median of ${noAuditRuns.length} runs: ${noAuditRuns.map((s) => int(s.load?.rps ?? 0)).join(', ')} req/s; not the default, so not judged): ${Math.round(ratio * 100)}% of the bare route${against}${againstCerbos}, p99 ${ms(p99Us)} ms.`);
  }
  // As deployed: WORKERS defaults to the number of cores in production, which the scenario's 2 are on 2 cores only.
  const deployed = r.scenarios.find((s) => s.id === 'decide/subject/default/workers-2' && s.load !== undefined);
  const bareWorkers = r.scenarios.find((s) => s.id === bareWorkersId)?.load;
  if (deployed?.load !== undefined) {
    const d = deployed.load;
    const cores = r.meta.machine.cores;
    aims.push('', cores === 2
      ? `As deployed ("${deployed.label}", the production default on this machine's 2 cores):`
      : `With 2 workers ("${deployed.label}", not production's default on this machine's ${cores} cores (WORKERS=${cores})):`, '');
    if (deployed.ratioToBare !== undefined) aims.push(`- ≥ 70% of the bare route: ${verdict(deployed.ratioToBare >= 0.7)} (${Math.round(deployed.ratioToBare * 100)}%${bareWorkers === undefined ? '' : `; ${Math.round((d.rps / bareWorkers.rps) * 100)}% of the bare route in 2 processes`}).`);
    if (cerbos !== undefined) aims.push(`- ≥ 6× Cerbos: ${verdict(d.rps >= 6 * cerbos.rps)} (${(d.rps / cerbos.rps).toFixed(1)}×).`);
    aims.push(`- p99 ≤ 3 ms at ${r.connections} connections: ${verdict(d.latencyUs.p99 <= 3000)} (${ms(d.latencyUs.p99)} ms).`);
  }
  return [
    '### HTTP',
    '',
    measuredLine(r.meta, `; load from a separate process: ${r.tool === 'wrk' ? `wrk -t1 -c${r.connections}` : `the bench's Node load generator (lower figures than wrk's: it costs more CPU per request), ${r.connections} connections`}, ${r.warmupSeconds} s warm-up then ${r.seconds} s per scenario, one server process at a time on the same cores as the load`),
    '',
    '| scenario | req/s | p50 ms | p99 ms | vs bare | server CPU µs/request | server RSS MiB | note |',
    '|---|---:|---:|---:|---:|---:|---:|---|',
    ...rows,
    '',
    '"vs bare" divides by the mean of the bare-route runs (first, last, and before each repeat of the headline), measured in the same run. Server CPU per request (user + system time of the server process over the run, divided by its requests) does not count time spent waiting for a core, so it moves less than req/s when the machine is busy.',
    '',
    'Aims:',
    ...aims,
    '',
  ];
}

function scaleSection(r: { meta: RunMeta; points: readonly ScalePoint[] }): string[] {
  return [
    '### Scale: evaluation time against policy size',
    '',
    measuredLine(r.meta, '; generated policies over 100 resource types and 10 actions, each rule with a role and a two-clause CEL condition; 256 rotating queries, half of them asking what some rule names (the others at random mostly find no rule with their action and roles among the few of the smaller sets)'),
    '',
    '| rules | rules per type | compile ms | invoice-pdp median ns | p99 ns | cedar-wasm median ns | cedar p99 ns |',
    '|---:|---:|---:|---:|---:|---:|---:|',
    ...r.points.map((p) => `| ${int(p.rules)} | ${p.rulesPerType} | ${p.compileMs} | ${int(p.ours.medianNs)} | ${int(p.ours.p99Ns)} | ${p.cedar ? int(p.cedar.medianNs) : '–'} | ${p.cedar ? int(p.cedar.p99Ns) : '–'} |`),
    '',
    'Rules are indexed by resource type and action, and lists of 8 rules or more by role too (src/policy/compile.ts): a decision reads only the rules that name its action and either name one of the subject\'s roles or none. cedar-wasm evaluates every policy in the set.',
    '',
  ];
}

function memorySection(r: { meta: RunMeta; result: MemoryResult }): string[] {
  const m = r.result;
  const growth = m.secondHalfLowMiB - m.firstHalfLowMiB;
  return [
    '### Memory',
    '',
    measuredLine(r.meta, `; ${m.scenario}, ${m.seconds} s of load, RSS sampled every 5 s`),
    '',
    '| idle MiB | lowest, first half MiB | lowest, second half MiB | mean, first quarter MiB | mean, last quarter MiB | peak MiB | 3 s after MiB | req/s |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
    `| ${m.idleMiB} | ${m.firstHalfLowMiB} | ${m.secondHalfLowMiB} | ${m.firstQuarterMiB} | ${m.lastQuarterMiB} | ${m.peakMiB} | ${m.afterMiB} | ${int(m.rps)} |`,
    '',
    `RSS under load saws between collections; the lowest sample of each half is what the process keeps. Growth from the first half to the second: ${growth >= 0 ? '+' : ''}${growth.toFixed(1)} MiB (${((growth / Math.max(1, m.firstHalfLowMiB)) * 100).toFixed(1)}%).`,
    '',
    `Samples (s:MiB): ${m.samples.map((s) => `${s.atSeconds}:${s.rssMiB}`).join(' ')}`,
    '',
  ];
}

const begin = '<!-- bench:begin (generated by `npm run bench` from bench/results/*.json; do not edit by hand) -->';
const end = '<!-- bench:end -->';

/** Rewrites the generated part of BENCHMARKS.md from every results file present. */
export function updateBenchmarksMd(): void {
  const parts: string[] = [];
  const inprocess = readResult<{ meta: RunMeta; result: InProcessResult }>('inprocess');
  const http = readResult<HttpResults>('http');
  const scale = readResult<{ meta: RunMeta; points: ScalePoint[] }>('scale');
  const memory = readResult<{ meta: RunMeta; result: MemoryResult }>('memory');
  if (inprocess) parts.push(...inProcessSection(inprocess));
  if (http) parts.push(...httpSection(http));
  if (scale) parts.push(...scaleSection(scale));
  if (memory) parts.push(...memorySection(memory));
  const file = resolve('BENCHMARKS.md');
  const current = existsSync(file) ? readFileSync(file, 'utf8') : `# Benchmarks\n\n${begin}\n${end}\n`;
  const from = current.indexOf(begin);
  const to = current.indexOf(end);
  const generated = `${begin}\n\n${parts.join('\n')}${end}`;
  const next = from === -1 || to === -1 ? `${current.trimEnd()}\n\n${generated}\n` : current.slice(0, from) + generated + current.slice(to + end.length);
  writeFileSync(file, next);
}
