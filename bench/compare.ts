import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runLoad, type LoadResult, type LoadTool } from './http/load.js';
import { median } from './stats.js';
import { startPdp } from './http/targets.js';
import { audience, issuer, makeTokens } from './http/tokens.js';
import { authzenEvaluation, decideBody, decideTokenBody, workload } from './workload.js';

/**
 * What a comparison loads: `/decide` with pre-verified subjects, `/decide` with ES256 JWTs
 * (keys made for the run, verified-token cache on as by default), or one AuthZEN evaluation.
 */
export type CompareEndpoint = 'decide' | 'jwt' | 'authzen';

interface Target {
  readonly path: string;
  readonly bodies: readonly unknown[];
  readonly env: Readonly<Record<string, string>>;
}

async function target(endpoint: CompareEndpoint, dir: string): Promise<Target> {
  if (endpoint === 'authzen') return { path: '/access/v1/evaluation', bodies: workload.map(authzenEvaluation), env: {} };
  if (endpoint === 'decide') return { path: '/decide', bodies: workload.map(decideBody), env: {} };
  const tokens = await makeTokens(dir);
  return {
    path: '/decide',
    bodies: workload.map((c) => decideTokenBody(c, tokens.jwt.ES256.get(c.subjectId) ?? '')),
    env: { JWKS_FILE: tokens.jwksFile, JWT_ISSUER: issuer, JWT_AUDIENCE: audience },
  };
}

/** Two builds of the service measured alternately in one run. */
export interface CompareResult {
  readonly endpoint: string;
  readonly baseline: { readonly ref: string; readonly commit: string };
  readonly current: { readonly ref: string; readonly commit: string };
  readonly rounds: number;
  readonly seconds: number;
  readonly connections: number;
  readonly baselineRuns: readonly LoadResult[];
  readonly currentRuns: readonly LoadResult[];
  readonly median: {
    readonly baseline: { readonly rps: number; readonly p99Us: number; readonly cpuUsPerRequest: number };
    readonly current: { readonly rps: number; readonly p99Us: number; readonly cpuUsPerRequest: number };
    readonly rpsRatio: number;
    readonly cpuRatio: number;
  };
}

/**
 * Builds `ref` of the checkout at `root` into its .cache/compare/<commit> (sharing the checkout's
 * node_modules) once, with the ref's own `npm run build`: since the service is bundled, `tsc`
 * alone leaves dist/main.js out, and which steps a build takes is the ref's to say.
 */
export function buildRef(ref: string, root = process.cwd()): { commit: string; main: string } {
  const commit = execFileSync('git', ['rev-parse', '--short', ref], { cwd: root, encoding: 'utf8' }).trim();
  const dir = resolve(root, '.cache/compare', commit);
  const main = join(dir, 'dist/main.js');
  if (!existsSync(main)) {
    mkdirSync(dir, { recursive: true });
    execFileSync('sh', ['-c', `git archive ${commit} | tar -x -C ${JSON.stringify(dir)}`], { cwd: root });
    if (!existsSync(join(dir, 'node_modules'))) symlinkSync(resolve(root, 'node_modules'), join(dir, 'node_modules'));
    // The bench's own output is on stderr; so is the build's.
    execFileSync('npm', ['run', 'build'], { cwd: dir, stdio: ['ignore', 2, 2] });
    if (!existsSync(main)) throw new Error(`${ref} (${commit}): its build wrote no dist/main.js`);
  }
  return { commit, main };
}

/**
 * `/decide` (pre-verified subjects or JWTs) or an AuthZEN evaluation, default configuration, on a
 * baseline build and on this checkout, alternating A B A B … so both see the same machine;
 * reports the medians.
 */
export async function runCompare(ref: string, endpoint: CompareEndpoint, tool: LoadTool, rounds: number, seconds: number, connections: number, log: (line: string) => void): Promise<CompareResult> {
  const baseline = buildRef(ref);
  const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).trim() !== '';
  const dir = mkdtempSync(join(tmpdir(), 'pdp-compare-'));
  const runs: Record<'baseline' | 'current', LoadResult[]> = { baseline: [], current: [] };
  try {
    const { path, bodies, env } = await target(endpoint, dir);
    for (let round = 0; round < rounds; round++) {
      for (const which of ['baseline', 'current'] as const) {
        const pdp = await startPdp(env, which === 'baseline' ? { main: baseline.main } : {});
        try {
          await runLoad(tool, { url: pdp.url, path, bodies, connections, seconds: 2 });
          const load = await runLoad(tool, { url: pdp.url, path, bodies, connections, seconds, serverPid: pdp.child.pid });
          runs[which].push(load);
          log(`compare  round ${round + 1} ${which.padEnd(8)} ${load.rps} req/s  p99 ${(load.latencyUs.p99 / 1000).toFixed(2)} ms  server CPU ${load.serverCpuUsPerRequest ?? '?'} µs/request`);
        } finally {
          await pdp.child.stop();
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const summary = (list: LoadResult[]) => ({
    rps: median(list.map((l) => l.rps)),
    p99Us: median(list.map((l) => l.latencyUs.p99)),
    cpuUsPerRequest: median(list.map((l) => l.serverCpuUsPerRequest ?? Number.NaN)),
  });
  const b = summary(runs.baseline);
  const c = summary(runs.current);
  return {
    endpoint: endpoint === 'jwt' ? '/decide (ES256 JWT)' : endpoint === 'authzen' ? '/access/v1/evaluation' : '/decide',
    baseline: { ref, commit: baseline.commit },
    current: { ref: 'working tree', commit: `${head}${dirty ? '+changes' : ''}` },
    rounds,
    seconds,
    connections,
    baselineRuns: runs.baseline,
    currentRuns: runs.current,
    median: { baseline: b, current: c, rpsRatio: Math.round((c.rps / b.rps) * 1000) / 1000, cpuRatio: Math.round((c.cpuUsPerRequest / b.cpuUsPerRequest) * 1000) / 1000 },
  };
}
