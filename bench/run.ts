/**
 * `npm run bench`: in-process evaluation against Cedar, HTTP load against the bare route and
 * Cerbos, and evaluation time against policy size; results in bench/results/*.json and
 * BENCHMARKS.md. `-- --quick` is a short smoke run (CI); `-- --memory` is the 2-minute RSS run.
 * Other flags: --connections=N, --seconds=S, --warmup=S, --only=inprocess,http,scale, --no-cerbos,
 * --load=node (use the Node load generator even where wrk is installed), --compare=GIT_REF
 * (`/decide` on that commit's build and on this checkout, alternately, --rounds=N times;
 * --endpoint=jwt sends ES256 tokens instead of subjects, --endpoint=authzen loads
 * POST /access/v1/evaluation),
 * --profile (`/decide` under load with `node --cpu-prof`, summarised by where the samples fell),
 * --hotpath (`/decide` and the bare route in this process through in-memory connections, µs per
 * request; with --compare=GIT_REF that commit's build too; --endpoint=authzen sends AuthZEN
 * evaluations; --rounds=N, 200 by default),
 * --ceiling (the bare route with 5–30 µs of CPU work added per request, and `/decide`, each after
 * a run of the bare route without it: how much work of its own a route may do at each rate;
 * --rounds=N, 3 by default, --seconds=S, 5 by default).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCeiling } from './ceiling.js';
import { runCompare } from './compare.js';
import { runHotPath } from './hotpath.js';
import { startIntrospection } from './http/introspection-server.js';
import { loadTool, type LoadTool } from './http/load.js';
import { startRedis } from './http/redis.js';
import { runScenarios, scenarios } from './http/scenarios.js';
import { makeTokens, audience, issuer } from './http/tokens.js';
import { runInProcess } from './inprocess.js';
import { runMemory } from './memory.js';
import { benchOptions } from './options.js';
import { runProfile } from './profile.js';
import { runMeta, updateBenchmarksMd, writeResult, type HttpResults } from './report.js';
import { runScale } from './scale.js';

const options = benchOptions(process.argv.slice(2));

const quick = options.quick;
const log = (line: string) => process.stderr.write(`${line}\n`);
const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
const connections = options.connections;
const tool: LoadTool = options.nodeLoad ? 'node-loadgen' : loadTool();
const workDir = mkdtempSync(join(tmpdir(), 'pdp-bench-'));
const quickResults: Record<string, unknown> = {};
// A quick run proves the suite works; it never overwrites the committed figures.
const save = (name: string, data: unknown) => {
  if (quick) quickResults[name] = data;
  else log(`wrote ${writeResult(name, data)}`);
};

async function main(): Promise<void> {
  const why = options.nodeLoad ? ' (--load=node: figures are lower than with wrk)' : ' (wrk not found: using the Node fallback, figures are lower)';
  log(`invoice-pdp bench${quick ? ' (quick)' : ''}: load tool ${tool}${tool === 'wrk' ? '' : why}`);

  if (options.hotpath) {
    const endpoint = options.endpoint;
    if (endpoint !== 'decide' && endpoint !== 'authzen') throw new Error(`--hotpath takes --endpoint=decide or authzen, not ${endpoint}`);
    const result = await runHotPath({ compare: options.compare, endpoint, rounds: options.rounds ?? 200, requestsPerRound: 1_000 }, log);
    writeResult('hotpath', { meta: runMeta(command), ...result });
    return;
  }

  if (options.compare !== undefined) {
    const endpoint = options.endpoint;
    if (endpoint !== 'decide' && endpoint !== 'jwt' && endpoint !== 'authzen') throw new Error(`--endpoint must be decide, jwt or authzen, not ${endpoint}`);
    const result = await runCompare(options.compare, endpoint, tool, options.rounds ?? 3, options.seconds ?? 5, connections, log);
    const m = result.median;
    log(`compare  ${result.endpoint} medians: ${result.baseline.commit} ${m.baseline.rps} req/s, p99 ${m.baseline.p99Us} µs, ${m.baseline.cpuUsPerRequest} µs CPU/request | ${result.current.commit} ${m.current.rps} req/s, p99 ${m.current.p99Us} µs, ${m.current.cpuUsPerRequest} µs CPU/request | req/s ×${m.rpsRatio}, CPU/request ×${m.cpuRatio}`);
    writeResult('compare', { meta: runMeta(command), ...result });
    return;
  }

  if (options.profile) {
    const result = await runProfile(tool, options.seconds ?? 8, connections, workDir);
    log(`profile  ${result.rps} req/s, ${result.cpuUsPerRequest ?? '?'} µs server CPU per request, ${result.summary.samples} samples`);
    for (const a of result.summary.byArea.slice(0, 12)) log(`  ${String(a.percent).padStart(5)}%  ${a.area}`);
    log('  top functions (self time):');
    for (const f of result.summary.topFunctions.slice(0, 20)) log(`  ${String(f.percent).padStart(5)}%  ${f.name}`);
    writeResult('profile', { meta: runMeta(command), ...result });
    return;
  }

  if (options.ceiling) {
    const result = await runCeiling(tool, options.seconds ?? 5, connections, options.rounds ?? 3, log);
    for (const p of result.points) log(`ceiling  ${p.target.padEnd(22)} ${p.vsBare} of the bare route (median; rounds ${p.rounds.join(', ')})`);
    log(`ceiling  /decide answers as the bare route does with ${result.decideAsWorkUs ?? '?'} µs of added work per request; 70% of the bare route is reached at ${result.seventyPercentAsWorkUs ?? '?'} µs`);
    writeResult('ceiling', { meta: runMeta(command), ...result });
    return;
  }

  if (options.memory) {
    save('memory', { meta: runMeta(command), result: await runMemory(tool, options.seconds ?? 120, connections, log) });
    updateBenchmarksMd();
    return;
  }

  if (options.only.has('inprocess')) {
    const result = await runInProcess(quick ? 20_000 : 300_000, quick ? 2_000 : 30_000);
    for (const e of result.engines) log(`in-process  ${e.engine.padEnd(12)} median ${e.ns.median} ns  p99 ${e.ns.p99} ns  (${e.what})`);
    save('inprocess', { meta: runMeta(command), result });
  }

  if (options.only.has('http')) {
    const tokens = await makeTokens(workDir);
    const introspection = await startIntrospection(tokens.opaqueClaims, issuer, audience);
    const redis = await startRedis();
    try {
      const list = scenarios({ cerbos: !quick && !options.noCerbos }).filter((s) => !quick || s.quick);
      // A quick run only proves each scenario answers right under load.
      const seconds = options.seconds ?? (quick ? 1 : 10);
      const warmupSeconds = options.warmup ?? (quick ? 0 : 3);
      const results = await runScenarios(list, { tokens, introspection, redis, workDir }, { tool, connections, seconds, warmupSeconds, log });
      const data: HttpResults = { meta: runMeta(command), tool, connections, seconds, warmupSeconds, scenarios: results };
      save('http', data);
      const failed = results.filter((r) => r.status === 'failed');
      if (failed.length > 0) process.exitCode = 1;
    } finally {
      await introspection.close();
      await redis?.stop();
    }
  }

  if (options.only.has('scale')) {
    // A quick run checks and times both engines too: 30 Cedar calls at 1,000 rules.
    const points = runScale(quick ? [1_000] : [100, 1_000, 10_000], quick ? 5_000 : 100_000, quick ? 30_000 : 600_000);
    for (const p of points) log(`scale  ${String(p.rules).padStart(6)} rules  median ${p.ours.medianNs} ns  p99 ${p.ours.p99Ns} ns${p.cedar ? `  (cedar ${p.cedar.medianNs} ns)` : ''}`);
    save('scale', { meta: runMeta(command), points });
  }

  if (quick) log(`wrote ${writeResult('quick', { meta: runMeta(command), ...quickResults })}`);
  else updateBenchmarksMd();
}

try {
  await main();
} finally {
  rmSync(workDir, { recursive: true, force: true });
}
