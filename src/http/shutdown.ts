import type { Server, ServerResponse } from 'node:http';
import { Server as NetServer } from 'node:net';

/** How a shutdown ended: every connection closed on its own, or the rest cut at the deadline. */
export type ShutdownOutcome = 'drained' | 'forced';

/** Stops the server gracefully; calling it again returns the same promise. */
export type Shutdown = (timeoutMs: number) => Promise<ShutdownOutcome>;

/** After the drain's deadline, how long closing (Redis, the audit log) may take before the process exits anyway, ms. */
export const closeGraceMs = 1_000;

/** How often idle keep-alive connections are swept while draining, ms; the first sweep waits as long. */
const sweepEveryMs = 100;

/**
 * Prepares `server` for a graceful shutdown and returns the function that performs it:
 * stop accepting connections, let every request in flight finish and be answered, tell
 * keep-alive clients to go (`Connection: close` on every answer from then on), close
 * connections as they fall idle, and cut whatever is left after `timeoutMs`.
 * Call it before the server takes traffic, so every request is tracked.
 */
export function gracefulShutdown(server: Server): Shutdown {
  const inFlight = new Set<ServerResponse>();
  let draining = false;
  let started: Promise<ShutdownOutcome> | undefined;

  server.prependListener('request', (_request, response: ServerResponse) => {
    if (draining) response.setHeader('connection', 'close');
    inFlight.add(response);
    response.once('close', () => inFlight.delete(response));
  });

  async function drain(timeoutMs: number): Promise<ShutdownOutcome> {
    draining = true;
    for (const response of inFlight) if (!response.headersSent) response.setHeader('connection', 'close');
    // Stop listening only. http.Server#close() would also close, at once, every connection
    // idle at this instant, among them any whose request has arrived but not yet been read:
    // a request sent before the signal would be lost. The sweeps start a moment later.
    const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()));
    const sweep = setInterval(() => server.closeIdleConnections(), sweepEveryMs);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'forced'>((resolve) => {
      timer = setTimeout(() => resolve('forced'), timeoutMs);
    });
    const outcome = await Promise.race([closed.then(() => 'drained' as const), deadline]);
    clearInterval(sweep);
    clearTimeout(timer);
    if (outcome === 'forced') {
      server.closeAllConnections();
      await closed;
    }
    return outcome;
  }

  return (timeoutMs) => {
    started ??= drain(timeoutMs);
    return started;
  };
}

/** What `stopOnSignals` reports through. */
export interface ShutdownLog {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface StopOnSignalsOptions {
  readonly timeoutMs: number;
  readonly log: ShutdownLog;
}

/**
 * Calls `first` on the first SIGTERM or SIGINT, and `again` on each one after it, of either kind.
 * The listeners stay: once removed, a signal takes its default action, which the kernel never
 * takes for PID 1 (a container's main process), so there a second signal would be ignored.
 */
export function onStopSignals(first: (signal: NodeJS.Signals) => void, again: (signal: NodeJS.Signals) => void): void {
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) return again(signal);
    signalled = true;
    first(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/**
 * On the first SIGTERM or SIGINT: drain, then exit 0 when drained or 1 when connections had
 * to be cut. A second signal of either kind exits 1 at once, connections cut (PID 1 too). The
 * process exits within `timeoutMs` plus `closeGraceMs` whatever happens. Returns the function
 * that starts the same stop for another reason (a supervisor asking); it starts only once.
 */
export function stopOnSignals(shutdown: Shutdown, options: StopOnSignalsOptions): (reason: string) => void {
  const exit = (code: number) => process.exit(code);
  let stopping = false;
  const stop = (reason: string) => {
    if (stopping) return;
    stopping = true;
    const startedAt = performance.now();
    options.log.info({ reason, timeoutMs: options.timeoutMs }, 'shutting down: draining connections');
    setTimeout(() => exit(1), options.timeoutMs + closeGraceMs).unref();
    void shutdown(options.timeoutMs).then((outcome) => {
      const tookMs = Math.round(performance.now() - startedAt);
      if (outcome === 'drained') options.log.info({ reason, tookMs }, 'shut down: every request answered');
      else options.log.warn({ reason, tookMs }, 'shut down: connections still open at the deadline were cut');
      exit(outcome === 'drained' ? 0 : 1);
    });
  };
  onStopSignals(stop, (signal) => {
    options.log.warn({ signal }, 'second signal: exiting at once, connections cut');
    exit(1);
  });
  return stop;
}
