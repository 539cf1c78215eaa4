import { pino } from 'pino';
import type { AuditSink } from './audit.js';

/**
 * Lines are gathered here into chunks of this many characters before the destination gets
 * them: each write to the destination is a round trip through libuv's thread pool costing
 * ~15 µs of the event loop's time, and sonic-boom measures the byte length of everything it
 * holds on every write, so handing it lines one by one cost each line time in proportion to
 * what was already waiting (a quarter of a whole `/decide` request at 32 KiB).
 */
const chunkLength = 32 * 1024;
/** The most one write to the file or pipe takes. */
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
    // Chunks are gathered below: each one is written as soon as the previous write is done.
    minLength: 0,
    maxWrite,
    maxLength,
  });
  let opened = file === undefined;
  let stopped: AuditUnavailableError | undefined;
  const reported = new WeakSet<object>();
  let gathered = '';
  let flushTimer: NodeJS.Timeout | undefined;

  const lost = (lines: string, error: Error) => {
    for (let at = lines.indexOf('\n'); at !== -1; at = lines.indexOf('\n', at + 1)) onError(error);
  };
  const handOver = () => {
    clearTimeout(flushTimer);
    flushTimer = undefined;
    const chunk = gathered;
    gathered = '';
    if (chunk === '') return;
    if (stopped === undefined) destination.write(chunk);
    else lost(chunk, stopped);
  };

  destination.once('ready', () => (opened = true));
  // A write holds several lines; each one lost is reported.
  destination.on('drop', (lines: string) => lost(lines, new Error(`audit buffer over ${maxLength} bytes: lines dropped`)));
  destination.on('error', (error: NodeJS.ErrnoException) => {
    // pino re-emits the errors it does not handle itself: report each one once.
    if (reported.has(error)) return;
    reported.add(error);
    if (!opened || error.code === 'EPIPE') {
      stopped = new AuditUnavailableError(`audit destination unavailable: ${error.message}`, { cause: error });
      // pino's exit hook still calls these; without a file they would throw.
      destination.flush = () => undefined;
      destination.flushSync = () => undefined;
    }
    onError(error);
  });

  return {
    write(lines) {
      if (stopped !== undefined) throw stopped;
      gathered += lines;
      if (gathered.length >= chunkLength) handOver();
      else flushTimer ??= setTimeout(handOver, flushIntervalMs).unref();
    },
    flushSync() {
      handOver();
      if (stopped === undefined && opened) destination.flushSync();
    },
  };
}
