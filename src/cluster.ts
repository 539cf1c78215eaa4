import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import { closeGraceMs } from './http/shutdown.js';
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
  /**
   * How long each worker's drain may take on shutdown (SHUTDOWN_TIMEOUT_MS, which the workers
   * apply themselves); a worker still running `closeGraceMs` after that is killed.
   */
  readonly shutdownTimeoutMs: number;
}

/** True in the process that should supervise workers instead of serving. */
export function isSupervisor(workers: number): boolean {
  return workers > 1 && cluster.isPrimary;
}

/** The message the primary sends each worker to stop it gracefully. */
const stopMessage = 'invoice-pdp:stop';

/**
 * In a worker, calls `stop` when the primary asks it to stop, or when the primary is gone (its
 * channel closed): the worker then drains as on SIGTERM, on its own deadline.
 */
export function onSupervisorStop(stop: (reason: string) => void): void {
  const worker = cluster.worker;
  if (worker === undefined) return;
  worker.on('message', (message: unknown) => {
    if (message === stopMessage) stop('supervisor');
  });
  worker.once('disconnect', () => stop('supervisor gone'));
}

// Workers crashing this often are not worth restarting again: something is wrong with the host.
const restartWindowMs = 30_000;
const maxRestartsInWindow = 5;

/**
 * Runs the cluster primary: forks `workers` processes of this same program (each serves on the
 * shared port), answers workers' cluster-metrics requests, and replaces a worker that dies while
 * serving. A worker that dies before it listens stops the whole service (bad configuration or
 * policies do not fix themselves). On SIGTERM or SIGINT it asks each worker to stop, so each
 * drains as a single process does on SIGTERM, and exits once it has counted every worker's exit:
 * 0, or 1 when a worker had to cut connections or did not stop in time.
 */
export function superviseWorkers(options: SupervisorOptions): void {
  const { log, workers, shutdownTimeoutMs } = options;
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
    // A message, not worker.disconnect(): that closes the worker's server at once and waits for
    // every connection to close, so a keep-alive connection whose request was in flight at the
    // signal stayed open (its answer had no `Connection: close`) until the worker was killed.
    // A worker whose channel is already closed is on its way out: its exit is counted below.
    for (const worker of live.values()) if (worker.isConnected()) worker.send(stopMessage, () => undefined);
    setTimeout(() => {
      for (const worker of live.values()) worker.process.kill('SIGKILL');
      log.error({ timeoutMs: shutdownTimeoutMs }, 'workers did not stop in time: killed');
      process.exit(1);
    }, shutdownTimeoutMs + closeGraceMs).unref();
  };

  cluster.on('listening', (worker, address) => {
    listening.add(worker.id);
    log.info({ worker: worker.id, pid: worker.process.pid, port: address.port }, 'worker listening');
  });

  cluster.on('exit', (worker, code, signal) => {
    live.delete(worker.id);
    const served = listening.delete(worker.id);
    if (stopping) {
      // A worker that had to cut connections at its deadline makes the whole stop a failed one.
      if (code !== 0) exitCode = 1;
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
