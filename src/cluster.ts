import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import { serveClusterMetrics } from './telemetry/cluster-metrics.js';

/**
 * How many server processes to run: `WORKERS` when set (`auto` = one per core); unset, one per
 * core when NODE_ENV=production and a single process otherwise (tests, development).
 */
export function workerCount(configured: number | 'auto' | undefined, nodeEnv = process.env['NODE_ENV']): number {
  if (configured === 'auto' || (configured === undefined && nodeEnv === 'production')) return availableParallelism();
  return configured ?? 1;
}

export interface SupervisorOptions {
  readonly workers: number;
  readonly log: Logger;
  /** How long workers get to finish in-flight requests on shutdown before they are killed. */
  readonly shutdownTimeoutMs?: number;
}

/** True in the process that should supervise workers instead of serving. */
export function isSupervisor(workers: number): boolean {
  return workers > 1 && cluster.isPrimary;
}

/** In a worker, calls `stop` when the primary disconnects it (graceful shutdown). */
export function onSupervisorDisconnect(stop: () => void): void {
  cluster.worker?.once('disconnect', stop);
}

// Workers crashing this often are not worth restarting again: something is wrong with the host.
const restartWindowMs = 30_000;
const maxRestartsInWindow = 5;

/**
 * Runs the cluster primary: forks `workers` processes of this same program (each serves on the
 * shared port), answers workers' cluster-metrics requests, and replaces a worker that dies while
 * serving. A worker that dies before it listens stops the whole service (bad configuration or
 * policies do not fix themselves). On SIGTERM or SIGINT it disconnects each worker, so each
 * finishes its requests and closes, and exits once it has counted every worker's exit.
 */
export function superviseWorkers(options: SupervisorOptions): void {
  const { log, workers } = options;
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 10_000;
  const live = new Map<number, Worker>();
  const listening = new Set<number>();
  const restarts: number[] = [];
  let stopping = false;
  let exitCode = 0;

  serveClusterMetrics();
  const fork = () => {
    const worker = cluster.fork();
    live.set(worker.id, worker);
  };

  const stop = (reason: string, code: number) => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    log.info({ reason, workers: live.size }, 'stopping workers');
    if (live.size === 0) process.exit(exitCode);
    for (const worker of live.values()) worker.disconnect();
    setTimeout(() => {
      for (const worker of live.values()) worker.process.kill('SIGKILL');
      log.error({ timeoutMs: shutdownTimeoutMs }, 'workers did not stop in time: killed');
      process.exit(1);
    }, shutdownTimeoutMs).unref();
  };

  cluster.on('listening', (worker, address) => {
    listening.add(worker.id);
    log.info({ worker: worker.id, pid: worker.process.pid, port: address.port }, 'worker listening');
  });

  cluster.on('exit', (worker, code, signal) => {
    live.delete(worker.id);
    const served = listening.delete(worker.id);
    if (stopping) {
      if (live.size === 0) {
        log.info('all workers stopped');
        process.exit(exitCode);
      }
      return;
    }
    log.error({ worker: worker.id, pid: worker.process.pid, code, signal }, 'worker exited');
    if (!served) {
      stop('a worker failed to start', 1);
      return;
    }
    const now = Date.now();
    restarts.push(now);
    while ((restarts[0] ?? now) < now - restartWindowMs) restarts.shift();
    if (restarts.length > maxRestartsInWindow) stop('workers keep crashing', 1);
    else fork();
  });

  process.once('SIGTERM', () => stop('SIGTERM', 0));
  process.once('SIGINT', () => stop('SIGINT', 0));
  log.info({ workers }, 'starting workers');
  for (let i = 0; i < workers; i++) fork();
}
