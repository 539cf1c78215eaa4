import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cpuTimeMs } from './processes.js';

/** What one load run measured. */
export interface LoadResult {
  readonly tool: LoadTool;
  readonly connections: number;
  readonly seconds: number;
  readonly requests: number;
  readonly rps: number;
  readonly latencyUs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number; readonly mean: number };
  /** Non-2xx answers plus socket errors and timeouts. */
  readonly errors: number;
  /**
   * Server CPU time per request, µs (when the server's pid is given): steadier than req/s on a
   * busy machine, since time spent waiting for a core does not count.
   */
  readonly serverCpuUsPerRequest?: number;
}

export type LoadTool = 'wrk' | 'node-loadgen';

export interface LoadOptions {
  readonly url: string;
  readonly path: string;
  readonly bodies: readonly unknown[];
  readonly connections: number;
  readonly seconds: number;
  readonly authorization?: string;
  /** The server process, to read its CPU time around the run. */
  readonly serverPid?: number;
}

/** wrk when it is on the PATH, else the bench's own Node load generator. */
export function loadTool(): LoadTool {
  return spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error === undefined ? 'wrk' : 'node-loadgen';
}

function run(command: string, args: readonly string[], env: Record<string, string>, timeoutMs: number): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(command, args, { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} failed: ${error.message}\n${stderr}`));
      else resolvePromise(stdout);
    });
  });
}

/** Puts load on one endpoint from a separate process and reads back its figures. */
export async function runLoad(tool: LoadTool, options: LoadOptions): Promise<LoadResult> {
  // The bodies, one JSON line each, for the load generator to read; removed after the run.
  const dir = mkdtempSync(join(tmpdir(), 'pdp-bench-load-'));
  try {
    const file = join(dir, 'bodies.jsonl');
    writeFileSync(file, options.bodies.map((b) => JSON.stringify(b)).join('\n') + '\n');
    return await loadFrom(tool, file, options);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function loadFrom(tool: LoadTool, file: string, options: LoadOptions): Promise<LoadResult> {
  const url = new URL(options.path, options.url).toString();
  const env = { BENCH_BODIES: file, BENCH_PATH: options.path, BENCH_AUTHORIZATION: options.authorization ?? '' };
  const timeoutMs = (options.seconds + 30) * 1000;
  const cpuBefore = options.serverPid === undefined ? undefined : await cpuTimeMs(options.serverPid);
  const stdout = tool === 'wrk'
    ? await run('wrk', ['-t1', `-c${options.connections}`, `-d${options.seconds}s`, '--latency', '-s', resolve('bench/http/wrk.lua'), url], env, timeoutMs)
    : await run(process.execPath, [resolve('.cache/bench-build/bench/http/node-load.js'), url, file, String(options.connections), String(options.seconds)], env, timeoutMs);
  const line = stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (line === undefined) throw new Error(`${tool} printed no figures:\n${stdout}`);
  const raw = JSON.parse(line.slice('BENCH_JSON '.length)) as {
    requests: number;
    durationUs: number;
    errors: Record<string, number>;
    latencyUs: LoadResult['latencyUs'];
  };
  const errors = Object.values(raw.errors).reduce((a, b) => a + b, 0);
  const cpuAfter = options.serverPid === undefined ? undefined : await cpuTimeMs(options.serverPid);
  const cpu = cpuBefore === undefined || cpuAfter === undefined || raw.requests === 0 ? undefined : Math.round(((cpuAfter - cpuBefore) * 1000) / raw.requests);
  return {
    tool,
    connections: options.connections,
    seconds: options.seconds,
    requests: raw.requests,
    rps: Math.round(raw.requests / (raw.durationUs / 1e6)),
    latencyUs: raw.latencyUs,
    errors,
    ...(cpu !== undefined && { serverCpuUsPerRequest: cpu }),
  };
}
