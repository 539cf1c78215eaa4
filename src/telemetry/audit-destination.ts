import { pino } from 'pino';
import type { AuditSink } from './audit.js';

/**
 * Buffered bytes before a write, and the most one write takes: each write is a round trip
 * through libuv's thread pool costing ~15 µs of the event loop's time, so a busy service
 * writes ~50 lines at once rather than ~7.
 */
const minLength = 32 * 1024;
const maxWrite = 64 * 1024;
/** Lines beyond this much unwritten data are dropped (and reported) rather than held in memory. */
const maxLength = 16 * 1024 * 1024;
/** A quiet service still gets its lines out within this many milliseconds. */
const flushIntervalMs = 1000;

/** The audit destination stopped for good (its file never opened, or its pipe closed). */
export class AuditUnavailableError extends Error {
  override readonly name = 'AuditUnavailableError';
}

/**
 * The audit sink: asynchronous, buffered appends to `file`, or to stdout when no file is
 * given. Open and write failures and dropped lines go to `onError`, never to the caller.
 */
export function auditDestination(file: string | undefined, onError: (error: unknown) => void): AuditSink {
  const destination = pino.destination({
    dest: file ?? 1,
    sync: false,
    append: true,
    minLength,
    maxWrite,
    maxLength,
    periodicFlush: flushIntervalMs,
  });
  let opened = file === undefined;
  let stopped: AuditUnavailableError | undefined;
  const reported = new WeakSet<object>();

  destination.once('ready', () => (opened = true));
  destination.on('drop', (lines: string) => {
    const error = new Error(`audit buffer over ${maxLength} bytes: line dropped`);
    // A write holds several lines; each one lost is reported.
    for (let at = lines.indexOf('\n'); at !== -1; at = lines.indexOf('\n', at + 1)) onError(error);
  });
  destination.on('error', (error: NodeJS.ErrnoException) => {
    // pino re-emits the errors it does not handle itself: report each one once.
    if (reported.has(error)) return;
    reported.add(error);
    if (!opened || error.code === 'EPIPE') {
      stopped = new AuditUnavailableError(`audit destination unavailable: ${error.message}`, { cause: error });
      // The flush timer and pino's exit hook still call these; without a file they would throw.
      destination.flush = () => undefined;
      destination.flushSync = () => undefined;
    }
    onError(error);
  });

  return {
    write(lines) {
      if (stopped !== undefined) throw stopped;
      destination.write(lines);
    },
    flushSync() {
      if (stopped === undefined && opened) destination.flushSync();
    },
  };
}
