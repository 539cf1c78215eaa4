import type { Server, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import { isLingering } from './linger.js';

/** How a shutdown ended: every connection closed on its own, or the rest cut at the deadline. */
export type ShutdownOutcome = 'drained' | 'forced';

/** Stops the server gracefully; calling it again returns the same promise. */
export type Shutdown = (timeoutMs: number) => Promise<ShutdownOutcome>;

/** After the drain's deadline, how long closing (Redis, the audit log) may take before the process exits anyway, ms. */
export const closeGraceMs = 1_000;

/** How often idle connections are swept while draining, ms; the first sweep waits as long. */
const sweepEveryMs = 100;

/** A connection as Node's HTTP server keeps it: with the response it is writing, if any (internal). */
interface ServedSocket extends Socket {
  readonly _httpMessage?: ServerResponse | null;
}

/** What a connection whose request's headers are still arriving at a sweep is told: Node's headers timeout, come early. */
function headersTimedOut(): Error {
  return Object.assign(new Error('the request was not received in time'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' });
}

/** How long a connection with no request in progress may go without sending a byte during a drain before it is closed, ms. */
const stalledAfterMs = 500;

/** The bytes a connection had read when a sweep last saw them change, and when. */
interface Progress {
  readonly bytes: number;
  readonly at: number;
}

/**
 * Closes the connections of `server` that are between requests: idle (Node finds those), or
 * with their last answer written, waiting only for the client to close (a 431 or 400 the server
 * wrote itself). Closing them loses nothing.
 */
function closeBetweenRequests(server: Server, sockets: ReadonlySet<ServedSocket>): void {
  server.closeIdleConnections();
  for (const socket of sockets) {
    if (socket.destroyed || socket._httpMessage || isLingering(socket)) continue;
    if (socket.writableEnded && socket.writableFinished) socket.destroy();
  }
}

/**
 * Closes the connections of `server` with no request in progress: those between requests (see
 * closeBetweenRequests), and those that have sent nothing for `stalledAfterMs`:
 * open without a byte, or with a request's headers part way (answered 408 as when Node's headers
 * timeout runs out, through the server's `clientError` listener, and closed at a later sweep),
 * rather than left to hold the drain for that timeout. One still sending is left alone: headers
 * that span several packets (an 8 KB token) are a request to answer. Connections writing an
 * answer, or reading and dropping the rest of a refused body (see linger.ts, within its own
 * limits), are left to finish. `seen` keeps each connection's progress from sweep to sweep.
 */
function closeIdle(server: Server, sockets: ReadonlySet<ServedSocket>, seen: WeakMap<ServedSocket, Progress>, now: number): void {
  closeBetweenRequests(server, sockets);
  for (const socket of sockets) {
    if (socket.destroyed || socket._httpMessage || isLingering(socket) || socket.writableEnded) continue;
    const last = seen.get(socket);
    if (last === undefined || last.bytes !== socket.bytesRead) {
      seen.set(socket, { bytes: socket.bytesRead, at: now });
    } else if (now - last.at >= stalledAfterMs && (socket.bytesRead === 0 || !server.emit('clientError', headersTimedOut(), socket))) {
      socket.destroy();
    }
  }
}

/**
 * Prepares `server` for a graceful shutdown and returns the function that performs it:
 * stop accepting connections, let every request in flight finish and be answered, tell
 * keep-alive clients to go (`Connection: close` on every answer from then on), close
 * connections as they fall idle (see closeIdle), and cut whatever is left after `timeoutMs`.
 * Call it before the server takes traffic, so every connection is tracked.
 */
export function gracefulShutdown(server: Server): Shutdown {
  // Node's own list of connections is internal, and its sweep skips those that sent nothing.
  // Tracked per connection rather than per request: a request costs nothing here, and one
  // pipelined behind an answer that closed its connection, never answered, is not kept.
  const sockets = new Set<ServedSocket>();
  let draining = false;
  let started: Promise<ShutdownOutcome> | undefined;

  function forget(this: ServedSocket): void {
    sockets.delete(this);
  }
  server.on('connection', (socket: ServedSocket) => {
    sockets.add(socket);
    socket.once('close', forget);
  });

  server.prependListener('request', (_request, response: ServerResponse) => {
    if (draining) response.setHeader('connection', 'close');
  });

  async function drain(timeoutMs: number): Promise<ShutdownOutcome> {
    draining = true;
    // The response each connection is writing; those queued behind it are never answered once
    // it closes the connection (see inTurn in linger.ts).
    for (const { _httpMessage: response } of sockets) if (response?.headersSent === false) response.setHeader('connection', 'close');
    // Stop listening only. http.Server#close() would also close, at once, every connection
    // idle at this instant, among them any whose request has arrived but not yet been read:
    // a request sent before the signal would be lost. The sweeps start a moment later.
    const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()));
    const seen = new WeakMap<ServedSocket, Progress>();
    const sweep = setInterval(() => closeIdle(server, sockets, seen, performance.now()), sweepEveryMs);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'forced'>((resolve) => {
      timer = setTimeout(() => resolve('forced'), timeoutMs);
    });
    let outcome = await Promise.race([closed.then(() => 'drained' as const), deadline]);
    clearInterval(sweep);
    clearTimeout(timer);
    if (outcome === 'forced') {
      // Those that hold no request are closed as the sweeps close them, without waiting for
      // a sweep to come (the first, 100 ms after the signal) or for a silent one to have been
      // silent for `stalledAfterMs`: closing them at a deadline shorter than that cuts nothing.
      closeBetweenRequests(server, sockets);
      for (const socket of sockets) if (socket.bytesRead === 0 && !socket._httpMessage) socket.destroy();
      if ([...sockets].every((socket) => socket.destroyed)) outcome = 'drained';
      // Every connection, not only those in Node's list: Node drops one from it on a CONNECT
      // (see refuseConnect), and a CONNECT behind answers the client does not read kept it open,
      // so the drain never ended.
      for (const socket of sockets) socket.destroy();
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
 * How long after the first stop signal the same signal again is taken for that one passed on,
 * not a second: a terminal's Ctrl-C reaches both `npm start` and the service, and npm passes its
 * own on (as `tini -g` or any wrapper signalling the service's group does), a few milliseconds
 * apart; taken as a second, it cut every request in flight.
 */
export const echoWindowMs = 1_000;

/**
 * Calls `first` on the first SIGTERM or SIGINT, and `again` on each one after it, of either kind,
 * but the same signal within `echoWindowMs` of the first, which is logged and otherwise ignored.
 * The listeners stay: once removed, a signal takes its default action, which the kernel never
 * takes for PID 1 (a container's main process), so there a second signal would be ignored.
 */
export function onStopSignals(first: (signal: NodeJS.Signals) => void, again: (signal: NodeJS.Signals) => void, log: ShutdownLog): void {
  let firstSignal: { readonly signal: NodeJS.Signals; readonly at: number } | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (firstSignal === undefined) {
      firstSignal = { signal, at: performance.now() };
      return first(signal);
    }
    if (signal === firstSignal.signal && performance.now() - firstSignal.at < echoWindowMs) {
      log.info({ signal, echoWindowMs }, 'the same signal again at once: taken as the first passed on, not a second');
      return;
    }
    again(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/**
 * On the first SIGTERM or SIGINT: drain, then exit 0 when drained or 1 when connections had
 * to be cut. A second signal of either kind exits 1 at once, connections cut (PID 1 too), but
 * the first one passed on again (see `echoWindowMs`). The
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
  }, options.log);
  return stop;
}
