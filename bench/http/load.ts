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

/**
 * Whether an answer fails a load run of the Node load generator: any status outside 2xx. A
 * redirect or a 1xx is no answer of the endpoint measured, so its rate and latency are not the
 * endpoint's. wrk counts answers of 400 and above alone: counting the others takes a Lua
 * `response()` hook, with which wrk buffers every answer and hands it to Lua, slowing the load
 * generator that shares the cores with the server. A redirect fails there before any load all
 * the same: every scenario first sends each request once and checks its answer.
 */
export function failedStatus(status: number): boolean {
  return status < 200 || status > 299;
}

/** What a load generator printed on its BENCH_JSON line, for a run in which every request succeeded. */
export interface Figures {
  readonly requests: number;
  readonly durationUs: number;
  readonly latencyUs: LoadResult['latencyUs'];
}

/**
 * Reads the BENCH_JSON line of wrk (bench/http/wrk.lua) or the Node load generator. A run with
 * any non-2xx answer, socket error or timeout throws: its rate and latencies would be those of
 * the failures, not of the endpoint.
 */
export function readFigures(tool: LoadTool, stdout: string): Figures {
  const line = stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (line === undefined) throw new Error(`${tool} printed no figures:\n${stdout}`);
  const raw = JSON.parse(line.slice('BENCH_JSON '.length)) as Figures & { errors: Record<string, number> };
  const failed = Object.entries(raw.errors).filter(([, n]) => n > 0);
  if (failed.length > 0) {
    const total = failed.reduce((sum, [, n]) => sum + n, 0);
    throw new Error(`${tool}: ${total} requests failed (${failed.map(([kind, n]) => `${kind} ${n}`).join(', ')}) of ${raw.requests} answered`);
  }
  if (raw.requests === 0) throw new Error(`${tool}: no request was answered`);
  return { requests: raw.requests, durationUs: raw.durationUs, latencyUs: raw.latencyUs };
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
  const figures = readFigures(tool, stdout);
  const cpuAfter = options.serverPid === undefined ? undefined : await cpuTimeMs(options.serverPid);
  const cpu = cpuBefore === undefined || cpuAfter === undefined ? undefined : Math.round(((cpuAfter - cpuBefore) * 1000) / figures.requests);
  return {
    tool,
    connections: options.connections,
    seconds: options.seconds,
    requests: figures.requests,
    rps: Math.round(figures.requests / (figures.durationUs / 1e6)),
    latencyUs: figures.latencyUs,
    ...(cpu !== undefined && { serverCpuUsPerRequest: cpu }),
  };
}
