import { pino } from 'pino';
import type { AuditSink } from './audit.js';

/**
 * Lines are encoded here into chunks of at least this many bytes before the destination gets
 * them, as buffers: each write to the destination is a round trip through libuv's thread pool
 * costing ~15 µs of the event loop's time; sonic-boom given strings measures the byte length
 * of everything it holds on every write (handing it lines one by one cost a quarter of a whole
 * `/decide` request), and a chunk gathered as a string costs more to flatten and encode at
 * write time than the lines cost to encode one by one as they come.
 */
const chunkLength = 32 * 1024;
/** Room for a chunk and the batch that completes it. */
const chunkRoom = 64 * 1024;
/** The most one write to the file or pipe takes. */
const maxWrite = 64 * 1024;
/** Lines beyond this much unwritten data are dropped (and reported) rather than held in memory. */
const maxLength = 16 * 1024 * 1024;
/** A quiet service still gets its lines out within this many milliseconds. */
const flushIntervalMs = 1000;
/** The longest a graceful close waits for the destination: a stuck collector must not hold the shutdown. */
const endWaitMs = 5000;

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
    contentMode: 'buffer',
    // Chunks are gathered below: each one is written as soon as the previous write is done.
    minLength: 0,
    maxWrite,
    maxLength,
  });
  let opened = file === undefined;
  let stopped: AuditUnavailableError | undefined;
  const reported = new WeakSet<object>();
  let chunk = Buffer.allocUnsafe(chunkRoom);
  let used = 0;
  let flushTimer: NodeJS.Timeout | undefined;

  const lost = (lines: Buffer, error: Error) => {
    for (let at = lines.indexOf(0x0a); at !== -1; at = lines.indexOf(0x0a, at + 1)) onError(error);
  };
  // In buffer mode sonic-boom takes buffers, though its types name only strings.
  const write = destination.write.bind(destination) as unknown as (data: Buffer) => boolean;
  const send = (lines: Buffer) => {
    if (stopped === undefined) write(lines);
    else lost(lines, stopped);
  };
  const handOver = () => {
    clearTimeout(flushTimer);
    flushTimer = undefined;
    if (used === 0) return;
    // The destination keeps the chunk until it is written: the next one is a new buffer.
    const full = chunk.subarray(0, used);
    chunk = Buffer.allocUnsafe(chunkRoom);
    used = 0;
    send(full);
  };

  destination.once('ready', () => (opened = true));
  // A write holds several lines; each one lost is reported.
  destination.on('drop', (lines: Buffer) => lost(lines, new Error(`audit buffer over ${maxLength} bytes: lines dropped`)));
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
      // At most 3 bytes a character; the exact length is taken only when that bound is too loose.
      if (used + lines.length * 3 > chunkRoom) {
        const bytes = Buffer.byteLength(lines);
        if (used + bytes > chunkRoom) handOver();
        if (bytes > chunkRoom) {
          // A batch too large for any chunk goes out on its own, after what came before it.
          send(Buffer.from(lines));
          return;
        }
      }
      used += chunk.write(lines, used);
      if (used >= chunkLength) handOver();
      else flushTimer ??= setTimeout(handOver, flushIntervalMs).unref();
    },
    flushSync() {
      handOver();
      if (stopped === undefined && opened) destination.flushSync();
    },
    end() {
      handOver();
      if (stopped !== undefined) return Promise.resolve();
      // Lines that come after the close are lost, and reported as such.
      stopped = new AuditUnavailableError('audit destination closed');
      return new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          destination.off('close', done);
          destination.off('error', done);
          resolve();
        };
        const timer = setTimeout(done, endWaitMs).unref();
        destination.once('close', done);
        destination.once('error', done);
        // Waits for a write in flight, writes the rest after it, then closes the file.
        destination.end();
      });
    },
  };
}
