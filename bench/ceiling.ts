import { runLoad, type LoadTool } from './http/load.js';
import { startBare, startPdp, type RunningPdp } from './http/targets.js';
import { decideBody, workload } from './workload.js';

/** One server under load, the median of its rounds, each against the bare route without added work measured just before it. */
export interface CeilingPoint {
  readonly target: string;
  /** The work added to the bare route, µs per request; undefined for `/decide`. */
  readonly workUs: number | undefined;
  readonly rps: number;
  readonly p99Us: number;
  readonly cpuUsPerRequest: number | undefined;
  /** The bare route without added work in the run just before. */
  readonly bareRps: number;
  /** `rps` against `bareRps`, the median of the rounds. */
  readonly vsBare: number;
  /** `vsBare` in each round. */
  readonly rounds: readonly number[];
}

export interface CeilingResult {
  readonly connections: number;
  readonly seconds: number;
  readonly rounds: number;
  readonly points: readonly CeilingPoint[];
  /**
   * The added work at which the bare route falls to `/decide`'s share of it, interpolated
   * between the two points around it: how much work of its own a route may do to answer as fast
   * as `/decide`.
   */
  readonly decideAsWorkUs: number | undefined;
  /** The same for 70% of the bare route. */
  readonly seventyPercentAsWorkUs: number | undefined;
}

/** Added work per request, µs. */
const steps = [5, 10, 15, 20, 25, 30];

/** The work at which the curve (a share of the bare route falling as work grows) crosses `share`. */
function workAt(curve: readonly { workUs: number; share: number }[], share: number): number | undefined {
  for (let i = 1; i < curve.length; i++) {
    const a = curve[i - 1];
    const b = curve[i];
    if (a === undefined || b === undefined || a.share < share || b.share > share) continue;
    if (a.share === b.share) return a.workUs;
    return Math.round((a.workUs + ((a.share - share) / (a.share - b.share)) * (b.workUs - a.workUs)) * 10) / 10;
  }
  return undefined;
}

/**
 * What the ceiling allows: the bare route with 5–30 µs of CPU work added to each request, and
 * `/decide` (pre-verified subject, default configuration), each under the same load right after
 * a run of the bare route without added work, which it is compared with: this host's speed moves
 * by up to 2× within minutes, less so between two runs in a row. Where the load generator shares
 * the cores, a µs of the server's own work costs more than a µs of rate: its answers wake a load
 * generator that went idle.
 */
export async function runCeiling(tool: LoadTool, seconds: number, connections: number, rounds: number, log: (line: string) => void): Promise<CeilingResult> {
  const bodies = workload.map(decideBody);
  const measure = async (target: string, server: RunningPdp) => {
    try {
      await runLoad(tool, { url: server.url, path: '/decide', bodies, connections, seconds: 2 });
      const load = await runLoad(tool, { url: server.url, path: '/decide', bodies, connections, seconds, serverPid: server.child.pid }).catch((error: unknown) => {
        throw new Error(`${target}: ${(error as Error).message}`);
      });
      log(`ceiling  ${target.padEnd(22)} ${String(load.rps).padStart(6)} req/s  p99 ${load.latencyUs.p99} µs  ${load.serverCpuUsPerRequest ?? '?'} µs CPU/request`);
      return load;
    } finally {
      await server.child.stop();
    }
  };
  const targets: readonly (number | undefined)[] = [...steps.slice(0, 3), undefined, ...steps.slice(3)];
  const runs = targets.map(() => [] as Omit<CeilingPoint, 'vsBare' | 'rounds'>[]);
  for (let round = 1; round <= rounds; round++) {
    log(`ceiling  round ${round} of ${rounds}`);
    for (const [index, workUs] of targets.entries()) {
      const bare = await measure('bare route', await startBare());
      const target = workUs === undefined ? '/decide' : `bare route + ${workUs} µs`;
      const load = await measure(target, workUs === undefined ? await startPdp({}) : await startBare(1, workUs));
      runs[index]?.push({ target, workUs, rps: load.rps, p99Us: load.latencyUs.p99, cpuUsPerRequest: load.serverCpuUsPerRequest, bareRps: bare.rps });
    }
  }
  const points = runs.map((measured): CeilingPoint => {
    const shares = measured.map((m) => Math.round((m.rps / m.bareRps) * 1000) / 1000);
    const middle = [...shares].sort((a, b) => a - b)[Math.floor((shares.length - 1) / 2)] ?? 0;
    const median = measured[shares.indexOf(middle)] ?? measured[0];
    if (median === undefined) throw new Error('ceiling: no rounds');
    return { ...median, vsBare: middle, rounds: shares };
  });
  const curve = [{ workUs: 0, share: 1 }, ...points.flatMap((p) => (p.workUs === undefined ? [] : [{ workUs: p.workUs, share: p.vsBare }]))];
  const decide = points.find((p) => p.workUs === undefined);
  return {
    connections,
    seconds,
    rounds,
    points,
    decideAsWorkUs: decide === undefined ? undefined : workAt(curve, decide.vsBare),
    seventyPercentAsWorkUs: workAt(curve, 0.7),
  };
}
