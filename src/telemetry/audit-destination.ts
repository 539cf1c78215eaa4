import { close, fstatSync, ftruncateSync, open, write as writeFile, writeSync, type Stats } from 'node:fs';
import { Socket } from 'node:net';
import type { AuditSink } from './audit.js';
import { appendFlags, followPath, lookIntervalMs, type ReopenEvents } from './audit-reopen.js';

/**
 * Lines are encoded here into chunks of at least this many bytes before they are written, as
 * buffers: each write is a system call (to a file, a round trip through libuv's thread pool
 * costing ~15 µs of the event loop's time), and a chunk gathered as a string costs more to
 * flatten and encode at write time than the lines cost to encode one by one as they come.
 */
const chunkLength = 32 * 1024;
/** Room for a chunk and the batch that completes it. */
const chunkRoom = 64 * 1024;
/** Lines that would take the unwritten data beyond this many bytes are dropped (and counted), each on its own. */
export const maxLength = 16 * 1024 * 1024;
/** A quiet service still gets its lines out within this many milliseconds. */
const flushIntervalMs = 1000;
/** The longest a graceful close waits for the writes: a stuck collector must not hold the shutdown. */
const endWaitMs = 5000;
/** A file that answers EAGAIN (a terminal, a device) is tried again after this many milliseconds. */
const retryMs = 100;
/** At process exit, the longest the last lines may wait for room in a pipe before they are given up. */
const exitWriteMs = 500;

/** The audit destination stopped for good (its file never opened, its pipe closed, or it was closed). */
export class AuditUnavailableError extends Error {
  override readonly name = 'AuditUnavailableError';
}

/**
 * Told of lost audit lines: `lines` is how many this error lost, 0 for an error that lost none
 * by itself (a file that could not be opened before any line came). `owner` says whose they were.
 */
export type AuditLoss<Owner = undefined> = (error: unknown, lines: number, owner: Owner | undefined) => void;

/** How many of `data`'s first `reached` bytes are whole lines. */
function wholeBytes(data: Buffer, reached: number): number {
  // A negative offset would count from the end.
  return reached === 0 ? 0 : data.lastIndexOf(0x0a, reached - 1) + 1;
}

/** How many lines a buffer of whole lines holds. */
function countLines(data: Buffer): number {
  let lines = 0;
  for (let at = data.indexOf(0x0a); at !== -1; at = data.indexOf(0x0a, at + 1)) lines += 1;
  return lines;
}

function errorCode(error: unknown): unknown {
  return (error as { code?: unknown } | null)?.code;
}

/** Sleeps the main thread; only for the bounded wait at process exit, where nothing else can run. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * A write to a file cut short mid-line (a full disk, a file size limit) left the beginning of a
 * line at the end of the file: it is cut off, so that what is appended next (by this process, by
 * the next one, after a logrotate) begins a line of its own instead of ending that one, and every
 * line of the file stays whole. `written` is what reached the file; the result, how many of its
 * bytes are whole lines. The file is taken to end with those bytes: another process appending
 * to the same file could, in the moment between, only if the disk had room again. Only a
 * descriptor `owned`, opened here in append mode, is cut: one handed over (stdout redirected to
 * a file) may write at its own offset, which would stay past the new end and leave a hole.
 */
function withoutCutLine(fd: number, owned: boolean, written: Buffer): number {
  const whole = written.lastIndexOf(0x0a) + 1;
  const cut = written.length - whole;
  if (cut === 0 || !owned) return whole;
  try {
    const stats = fstatSync(fd);
    if (stats.isFile() && stats.size >= cut) ftruncateSync(fd, stats.size - cut);
  } catch {
    // A file that cannot be cut: the beginning of the line stays.
  }
  return whole;
}

type WriteDone = (error: NodeJS.ErrnoException | undefined, written: number) => void;

/** How bytes reach the descriptor. */
interface Backend {
  readonly fd: number;
  /**
   * A pipe or socket, written through a libuv stream: non-blocking, so no write can block a
   * thread, and none can hold the process at exit (libuv joins its thread-pool threads then,
   * and one blocked writing to a full pipe would wait for as long as the reader does not read).
   */
  readonly stream: boolean;
  /** Writes all of `data`, then calls `done`; on a failure, with how many of its bytes are whole lines written. */
  write(data: Buffer, done: WriteDone): void;
  /**
   * How many bytes of the write in flight are whole lines known to have reached the descriptor:
   * when the output stops meanwhile, only the lines after them are lost.
   */
  written(): number;
  /** True when every byte given to `write` has reached the descriptor: bytes written now land after them, whole. */
  idle(): boolean;
  /** Lets go of the descriptor (closes it when this process opened it, or was handed it alone); no write is outstanding. */
  release(): void;
  /** Cuts off the end of a line that `written`, the start of a write to the descriptor, stopped in; see `withoutCutLine`. */
  cutLine(written: Buffer): void;
}

/** A regular file (or a device, a terminal): written on libuv's thread pool; such writes do not wait on a reader. */
function fileBackend(fd: number, owned: boolean): Backend {
  let current: Buffer = Buffer.alloc(0);
  let reached = 0;
  const write = (data: Buffer, done: WriteDone, from = 0): void => {
    current = data;
    reached = from;
    writeFile(fd, data, from, data.length - from, null, (error, written) => {
      if (error !== null) {
        if (error.code === 'EAGAIN') setTimeout(() => write(data, done, from), retryMs);
        else done(error, withoutCutLine(fd, owned, data.subarray(0, from)));
      } else if (from + written < data.length) {
        write(data, done, from + written);
      } else {
        done(undefined, data.length);
      }
    });
  };
  // A write in flight appends its bytes whole, before or after others': never into them.
  return {
    fd,
    stream: false,
    write,
    // A write still on the thread pool when the output stops may land after it, its lines counted nonetheless.
    written: () => wholeBytes(current, reached),
    idle: () => true,
    release: () => owned && close(fd, () => undefined),
    cutLine: (written) => void withoutCutLine(fd, owned, written),
  };
}

/**
 * A pipe or socket (stdout under a container runtime, a FIFO, a worker's pipe to the primary).
 * Written straight to the descriptor, which libuv made non-blocking, while it has room: each
 * write says how many bytes the descriptor took, so a stop counts only the lines that did not
 * reach it (a stream's write says nothing until all of it is written: a close that gave up on a
 * stuck reader counted a whole chunk lost, lines the reader had got among them). With no room,
 * the stream waits for some, writing the rest of the line the descriptor stopped in: once it is
 * written, so is every line up to it, and the next write goes straight to the descriptor again.
 */
function streamBackend(fd: number): Backend {
  // stdout and stderr are process.stdout's and process.stderr's: one stream per descriptor. libuv
  // makes the descriptor non-blocking.
  const socket = fd === 1 ? (process.stdout as Socket) : fd === 2 ? (process.stderr as Socket) : new Socket({ fd, readable: false, writable: true });
  // Each failure also reaches the write's callback, which handles it.
  socket.on('error', () => undefined);
  let current: Buffer = Buffer.alloc(0);
  /** Bytes of `current` that reached the descriptor. */
  let reached = 0;
  let released = false;
  const writeOn = (done: WriteDone): void => {
    const data = current;
    // Not past what the stream holds (another writer of stdout's): bytes written ahead of it would break its lines.
    while (reached < data.length && socket.writableLength === 0) {
      let took: number;
      try {
        took = writeSync(fd, data, reached);
      } catch (error) {
        if (errorCode(error) === 'EAGAIN') break;
        process.nextTick(done, error, wholeBytes(data, reached));
        return;
      }
      if (took === 0) break;
      reached += took;
    }
    if (reached === data.length) {
      process.nextTick(done, undefined, data.length);
      return;
    }
    const lineEnd = data.indexOf(0x0a, reached) + 1 || data.length;
    socket.write(data.subarray(reached, lineEnd), (error) => {
      // Released: the output stopped, and writes nothing more.
      if (error != null || released) return done(error ?? undefined, wholeBytes(data, reached));
      reached = lineEnd;
      writeOn(done);
    });
  };
  return {
    fd,
    stream: true,
    write: (data, done) => {
      current = data;
      reached = 0;
      writeOn(done);
    },
    written: () => wholeBytes(current, reached),
    // A write waiting for room holds the rest of a line in the stream until the line is written.
    idle: () => socket.writableLength === 0,
    release: () => {
      released = true;
      if (fd > 2) socket.destroy();
    },
    // A reader takes what arrived as it arrived.
    cutLine: () => undefined,
  };
}

function backendFor(fd: number, owned: boolean): Backend {
  const stats = fstatSync(fd);
  return stats.isFIFO() || stats.isSocket() ? streamBackend(fd) : fileBackend(fd, owned);
}

/** `/dev/stdout`, `/dev/stderr`, `/dev/fd/N`, `/proc/self/fd/N`: names of this process's own descriptors. */
const descriptorName = /^\/(?:dev\/(?:std(out|err)|fd\/(\d+))|proc\/self\/fd\/(\d+))$/;

/**
 * The descriptor `path` names when it is a socket, which open() refuses (ENXIO): `/dev/stdout`
 * is one under systemd (journald) and under a parent that made the stdio of its child socket
 * pairs (Node's child_process). Written through the descriptor instead, as stdout is.
 */
function socketNamed(path: string): number | undefined {
  const name = descriptorName.exec(path);
  if (name === null) return undefined;
  const fd = name[1] === 'out' ? 1 : name[1] === 'err' ? 2 : Number(name[2] ?? name[3]);
  try {
    return fstatSync(fd).isSocket() ? fd : undefined;
  } catch {
    return undefined;
  }
}

interface Item<Owner> {
  readonly data: Buffer;
  readonly owner: Owner | undefined;
}

export interface AuditOutputOptions<Owner> {
  /** Told of every line lost; must not throw. */
  readonly onLost: AuditLoss<Owner>;
  /** Called after each write completes (`pending` has fallen). */
  readonly onWritten?: () => void;
  /**
   * Told when the regular file it appends to, renamed away from its path, is followed by a new
   * one there, or cannot be; see `followPath`. Without it the path is not followed.
   */
  readonly onReopen?: {
    reopened(): void;
    failed(error: unknown): void;
    /** The path, which could not be opened at first, is open at last: lines are written from now on. */
    opened(): void;
  };
}

/**
 * Writes buffers of whole lines to a file (appended) or to a descriptor's file, pipe or socket,
 * in order, one write at a time, each buffer in one write when the descriptor takes it whole (an
 * append to a regular file then lands whole, even among other processes appending to the file).
 * Keeps no bound itself: `pending` says how much it holds, the callers bound it.
 */
export class AuditOutput<Owner = undefined> {
  readonly #onLost: AuditLoss<Owner>;
  readonly #onWritten: (() => void) | undefined;
  #backend: Backend | undefined;
  /** A file newly opened at the path, written to from the next write on: the one in flight goes on to the old one. */
  #replacement: Backend | undefined;
  /** Stops following the path. */
  #unfollow: (() => void) | undefined;
  readonly #queue: Item<Owner>[] = [];
  /** The item being written, until the write completes or the output stops. */
  #inFlight: Item<Owner> | undefined;
  /** A write the backend has not completed (it may outlive #inFlight when the output stops). */
  #writing = false;
  #pending = 0;
  #stopped: AuditUnavailableError | undefined;
  /** Why the path, followed, could not be opened at first: lines are lost until a try succeeds (see #openPath). */
  #unopened: AuditUnavailableError | undefined;
  /** The next try to open it. */
  #retry: NodeJS.Timeout | undefined;
  #ending = false;
  #settle: (() => void) | undefined;

  /**
   * `target`: a file to append to (opened here), or a descriptor open for writing; a name of one
   * of this process's descriptors that is a socket (`/dev/stdout`) stands for that descriptor.
   */
  constructor(target: string | number, options: AuditOutputOptions<Owner>) {
    this.#onLost = options.onLost;
    this.#onWritten = options.onWritten;
    const onReopen = options.onReopen;
    const to = typeof target === 'string' ? socketNamed(target) ?? target : target;
    if (typeof to === 'number') {
      try {
        this.#backend = backendFor(to, false);
      } catch (error) {
        process.nextTick(() => this.#stop(error));
      }
      return;
    }
    this.#openPath(to, onReopen);
  }

  /**
   * Opens the file `to` to append to. When it cannot be and the path is followed (`onReopen`),
   * the lines are lost, and told, until a try succeeds: the path is tried again once a second, as
   * a renamed one is, since a folder mounted or made a moment after the start otherwise cost
   * every line until a restart. Without `onReopen` the output stops for good.
   */
  #openPath(to: string, onReopen: AuditOutputOptions<Owner>['onReopen']): void {
    // Non-blocking: a FIFO without a reader is refused (ENXIO) at once instead of holding a
    // thread-pool thread, and with it the process's exit, until one comes. Files ignore it.
    open(to, appendFlags, 0o666, (error, fd) => {
      if (error !== null) return this.#notOpened(to, error, onReopen);
      let stats: Stats;
      let backend: Backend;
      try {
        stats = fstatSync(fd);
        backend = backendFor(fd, true);
      } catch (cause) {
        close(fd, () => undefined);
        return this.#stop(cause);
      }
      if (this.#stopped !== undefined) return backend.release();
      this.#backend = backend;
      if (this.#unopened !== undefined) {
        this.#unopened = undefined;
        onReopen?.opened();
      }
      if (stats.isFile() && onReopen !== undefined) this.#unfollow = followPath(to, stats, this.#reopenEvents(onReopen));
      this.#next();
    });
  }

  /** `to` could not be opened: lines are lost until it is (see #openPath); told of the first failure only. */
  #notOpened(to: string, error: unknown, onReopen: AuditOutputOptions<Owner>['onReopen']): void {
    if (onReopen === undefined || this.#stopped !== undefined || this.#ending) return this.#stop(error);
    if (this.#unopened === undefined) {
      this.#unopened = unavailable(error);
      this.#loseAll(error);
    }
    this.#retry = setTimeout(() => this.#openPath(to, onReopen), lookIntervalMs).unref();
  }

  /** Bytes handed over and not yet written, the write in flight included. */
  get pending(): number {
    return this.#pending;
  }

  /** Set while the output takes no more lines: it failed, or it was closed (for good), or its path cannot be opened yet. */
  get stopped(): AuditUnavailableError | undefined {
    return this.#stopped ?? this.#unopened;
  }

  /** Hands over whole lines; when the output is stopped or closing they are lost, and reported. */
  write(data: Buffer, owner?: Owner): void {
    if (this.#stopped !== undefined || this.#unopened !== undefined || this.#ending) {
      this.#onLost(this.#stopped ?? this.#unopened ?? new AuditUnavailableError('audit destination closed'), countLines(data), owner);
      return;
    }
    this.#pending += data.length;
    const item = { data, owner };
    if (this.#inFlight === undefined && this.#backend !== undefined) this.#start(this.#backend, item);
    else this.#queue.push(item);
  }

  /**
   * Writes what it holds, in order, and waits until it is written, at most `waitMs`: then what is
   * left is lost (and reported), and no thread waits on it. Takes no more lines from the call on.
   */
  end(waitMs: number): Promise<void> {
    if (this.#unopened !== undefined) {
      clearTimeout(this.#retry);
      this.#stopped = new AuditUnavailableError('audit destination closed');
    }
    if (this.#stopped !== undefined) return Promise.resolve();
    this.#ending = true;
    if (this.#pending === 0 && this.#backend !== undefined) {
      this.#finish();
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.#stop(new AuditUnavailableError(`audit lines not written within ${waitMs} ms of the close: given up`)), waitMs);
      timer.unref();
      this.#settle = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /**
   * At process exit, where nothing can be awaited: writes what it holds, and `last`,
   * synchronously, unless a close has begun (it waited already; what it did not write is given
   * up) or the output failed. To a regular file it writes all of it (a write still in flight on
   * the thread pool may land after it). To a pipe or socket it writes only when no earlier write
   * is left unfinished (one may have stopped mid-line: bytes written behind it would break that
   * line), and waits at most 500 ms in all for room: a reader that does not read costs those
   * lines, and the line the wait ends in may be cut short. Never blocks longer than that.
   */
  exitFlush(last?: Buffer): void {
    // A file newly opened at the path, while the old one still has a write in flight.
    const backend = this.#replacement ?? this.#backend;
    if (this.#stopped !== undefined || this.#ending || backend === undefined) return;
    this.#stopped = new AuditUnavailableError('audit destination closed: the process exits');
    this.#unfollow?.();
    const items = this.#queue.splice(0).map((item) => item.data);
    if (last !== undefined && last.length > 0) items.push(last);
    if (items.length === 0 || !backend.idle()) return;
    const deadline = performance.now() + exitWriteMs;
    for (const data of items) {
      let rest = data;
      while (rest.length > 0) {
        try {
          rest = rest.subarray(writeSync(backend.fd, rest));
        } catch (error) {
          if (errorCode(error) === 'EAGAIN' && performance.now() < deadline) {
            sleepSync(2);
            continue;
          }
          backend.cutLine(data.subarray(0, data.length - rest.length));
          return;
        }
      }
    }
  }

  #reopenEvents(onReopen: NonNullable<AuditOutputOptions<Owner>['onReopen']>): ReopenEvents {
    return {
      reopened: (fd) => {
        const backend = fileBackend(fd, true);
        if (this.#stopped !== undefined) return backend.release();
        this.#replacement?.release();
        this.#replacement = backend;
        if (!this.#writing) this.#takeReplacement();
        onReopen.reopened();
      },
      failed: (error) => onReopen.failed(error),
    };
  }

  /** Between writes: the file newly opened at the path takes the place of the old one, which is closed. */
  #takeReplacement(): void {
    if (this.#replacement === undefined) return;
    this.#backend?.release();
    this.#backend = this.#replacement;
    this.#replacement = undefined;
  }

  #start(backend: Backend, item: Item<Owner>): void {
    this.#inFlight = item;
    this.#writing = true;
    backend.write(item.data, (error, written) => this.#written(backend, item, error, written));
  }

  #written(backend: Backend, item: Item<Owner>, error: NodeJS.ErrnoException | undefined, written: number): void {
    this.#writing = false;
    if (this.#inFlight !== item) {
      // Stopped meanwhile, the item accounted for then; the descriptor waited for this write.
      backend.release();
      return;
    }
    this.#inFlight = undefined;
    this.#pending -= item.data.length;
    if (error !== undefined) {
      // A pipe or socket that fails has lost its reader for good; a file may fail one write
      // (a full disk) and take the next. The lines it wrote whole before it failed are not lost.
      if (backend.stream || error.code === 'EPIPE' || error.code === 'EBADF') return this.#stop(error, { ...item, data: item.data.subarray(written) });
      this.#onLost(error, countLines(item.data.subarray(written)), item.owner);
    }
    this.#next();
    this.#onWritten?.();
  }

  #next(): void {
    this.#takeReplacement();
    const item = this.#queue.shift();
    if (item !== undefined && this.#backend !== undefined) this.#start(this.#backend, item);
    else if (this.#ending && this.#pending === 0) this.#finish();
  }

  /** Closed as asked, every line written. */
  #finish(): void {
    this.#stopped = new AuditUnavailableError('audit destination closed');
    this.#unfollow?.();
    this.#backend?.release();
    this.#settle?.();
  }

  /** Stops for good: what it holds is lost, each owner's lines reported together; `failed`, the lines a failed write did not write. */
  #stop(error: unknown, failed?: Item<Owner>): void {
    if (this.#stopped !== undefined) return;
    this.#unfollow?.();
    this.#replacement?.release();
    this.#replacement = undefined;
    clearTimeout(this.#retry);
    this.#stopped = unavailable(error);
    this.#loseAll(error, failed);
    // A pipe's stream may drop its unfinished write at once; a file's descriptor waits for it (its number could be reused).
    if (this.#backend !== undefined && (this.#backend.stream || !this.#writing)) this.#backend.release();
    this.#settle?.();
  }

  /** What it holds (`failed`, the item a write failed with, first) is lost, each owner's lines told together; the error alone when it holds none. */
  #loseAll(error: unknown, failed?: Item<Owner>): void {
    const lost: Item<Owner>[] = [];
    const inFlight = this.#inFlight;
    // The lines of the write in flight that reached the descriptor whole are not lost.
    const unwritten = failed ?? (inFlight && { ...inFlight, data: inFlight.data.subarray(this.#backend?.written() ?? 0) });
    if (unwritten !== undefined) lost.push(unwritten);
    lost.push(...this.#queue.splice(0));
    this.#inFlight = undefined;
    this.#pending = 0;
    if (lost.length === 0) this.#onLost(error, 0, undefined);
    for (let i = 0; i < lost.length; ) {
      const owner = lost[i]?.owner;
      let lines = 0;
      for (let item = lost[i]; item !== undefined && item.owner === owner; item = lost[++i]) lines += countLines(item.data);
      this.#onLost(error, lines, owner);
    }
  }
}

/** `error` as the output reports it: an AuditUnavailableError as it is, any other as its cause. */
function unavailable(error: unknown): AuditUnavailableError {
  return error instanceof AuditUnavailableError
    ? error
    : new AuditUnavailableError(`audit destination unavailable: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}

/**
 * The audit sink: asynchronous, buffered appends to the file `target` names, or writes to the
 * descriptor it gives (stdout when undefined). Lines are gathered into chunks of whole lines;
 * beyond 16 MiB unwritten, each line that does not fit is dropped. Every lost line and every
 * failure goes to `onError`, never to the caller; lines given after the destination stopped for
 * good are refused with an `AuditUnavailableError`, for the caller to count. A regular file
 * renamed away from its path (a rotation) is followed by the one at the path, told to `onReopen`.
 */
export function auditDestination(target: string | number | undefined, onError: AuditLoss, onReopen?: AuditOutputOptions<undefined>['onReopen']): AuditSink {
  const output = new AuditOutput<undefined>(target ?? 1, { onLost: onError, ...(onReopen !== undefined && { onReopen }) });
  let closed: AuditUnavailableError | undefined;
  let chunk = Buffer.allocUnsafe(chunkRoom);
  let used = 0;
  let flushTimer: NodeJS.Timeout | undefined;

  const handOver = () => {
    clearTimeout(flushTimer);
    flushTimer = undefined;
    if (used === 0) return;
    // The output keeps the chunk until it is written: the next one is a new buffer.
    const full = chunk.subarray(0, used);
    chunk = Buffer.allocUnsafe(chunkRoom);
    used = 0;
    output.write(full);
  };
  const chunked = () => {
    if (used >= chunkLength) handOver();
    else flushTimer ??= setTimeout(handOver, flushIntervalMs).unref();
  };
  /** Adds lines of `bytes` bytes that fit within the bound. */
  const add = (lines: string, bytes: number) => {
    if (used + bytes > chunkRoom) handOver();
    // Lines too large for any chunk go out on their own, after what came before them.
    if (bytes > chunkRoom) output.write(Buffer.from(lines));
    else used += chunk.write(lines, used);
  };
  /** Past the bound: each line that fits is kept, each one that does not is dropped. */
  const addEach = (lines: string) => {
    let dropped = 0;
    for (let start = 0; start < lines.length; ) {
      const end = lines.indexOf('\n', start) + 1 || lines.length;
      const line = lines.slice(start, end);
      start = end;
      const bytes = Buffer.byteLength(line);
      if (output.pending + used + bytes > maxLength) dropped += 1;
      else add(line, bytes);
    }
    if (dropped > 0) onError(new Error(`audit buffer over ${maxLength} bytes: lines dropped`), dropped, undefined);
  };

  return {
    write(lines) {
      const stopped = closed ?? output.stopped;
      if (stopped !== undefined) throw stopped;
      // At most 3 bytes a UTF-16 unit: the exact length is taken only when that bound is too loose.
      const most = lines.length * 3;
      if (used + most > chunkRoom || output.pending + used + most > maxLength) {
        const bytes = Buffer.byteLength(lines);
        if (output.pending + used + bytes > maxLength) addEach(lines);
        else add(lines, bytes);
      } else {
        used += chunk.write(lines, used);
      }
      if (used > 0) chunked();
    },
    flushSync() {
      if (closed !== undefined) return;
      clearTimeout(flushTimer);
      // Not handed over: that would start an asynchronous write, which exit leaves unfinished.
      output.exitFlush(chunk.subarray(0, used));
      used = 0;
    },
    end() {
      handOver();
      if (closed !== undefined) return Promise.resolve();
      // Lines that come after the close are refused, and counted as lost.
      closed = new AuditUnavailableError('audit destination closed');
      return output.end(endWaitMs);
    },
  };
}
