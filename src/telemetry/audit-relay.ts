import cluster, { type Worker } from 'node:cluster';
import { fstatSync, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { AuditOutput, AuditUnavailableError } from './audit-destination.js';
import { isMessage } from './cluster-metrics.js';

/**
 * Under WORKERS with the audit on stdout, the primary is the only process that writes stdout.
 * Writes to a pipe larger than PIPE_BUF (4 KiB) are not atomic: chunks of 32–64 KiB from several
 * workers broke each other's lines. Each worker's stdout is instead a pipe of its own to the
 * primary (a socket pair made at fork): the worker writes its audit lines to stdout as a single
 * process does, and the primary reads each pipe up to its last whole line and writes those
 * lines to its stdout, so lines from different workers alternate, whole.
 *
 * Not over the cluster's IPC channel: new connections are handed to workers over it, and
 * megabytes of lines queued ahead of them would delay them. Nor do the workers share the
 * primary's stdout at all: a child started with it, and one exiting, sets the pipe back to
 * blocking (libuv at spawn, Node at exit restore the flags of their stdio), and a blocking write
 * to a full pipe would stall the primary, and its exit, for as long as the collector does not read.
 */
const workerStdout = 1;
/** Primary → worker: lines of yours I took and then lost (stdout failed): count them. */
const lostType = 'invoice-pdp:audit-lines-lost';
/**
 * The primary stops reading the workers' pipes while this many bytes wait for stdout, and reads
 * on below half of it; the backlog then waits in each worker, bounded there (16 MiB) and each
 * line beyond counted in that worker's `pdp_audit_errors_total`.
 */
const relayHoldBytes = 1024 * 1024;

interface LostMessage {
  readonly type: typeof lostType;
  readonly lines: number;
  readonly message: string;
}

/** In a worker: reports, through `report`, lines the primary took from it and lost afterwards. */
export function onRelayedLoss(report: (error: unknown, lines: number) => void): void {
  cluster.worker?.on('message', (message: unknown) => {
    if (isMessage<LostMessage>(message, lostType)) report(new AuditUnavailableError(message.message), message.lines);
  });
}

export interface RelayLog {
  warn(fields: Record<string, unknown>, message: string): void;
}

/** The primary's side of the relay. */
export interface AuditRelay {
  /** Starts reading a worker's audit lines; call it right after `cluster.fork`. */
  attach(worker: Worker): void;
  /**
   * Once every worker has exited: reads what their pipes still hold, writes it out and waits
   * until it is written, at most `waitMs`.
   */
  close(waitMs: number): Promise<void>;
  /** At process exit: writes what is left synchronously, as far as it can without blocking (`AuditOutput.exitFlush`). */
  exitFlush(): void;
  /**
   * The workers are asked to stop: lines lost from now on are counted here, at the close, not
   * by the worker they came from, which may exit before it hears of them.
   */
  stopping(): void;
}

/**
 * Where the primary writes the workers' audit lines: stdout (descriptor 1) when AUDIT_LOG_FILE is
 * unset, and the pipe or socket it names (a FIFO a collector reads, `/dev/stdout` under a
 * container runtime), whose writes of a chunk are no more atomic than stdout's. Undefined for a
 * regular file, or a name not yet made: each worker appends to that itself, an append landing whole.
 */
export function auditRelayTarget(file: string | undefined): string | number | undefined {
  if (file === undefined) return 1;
  try {
    const stats = statSync(file);
    return stats.isFIFO() || stats.isSocket() ? file : undefined;
  } catch {
    return undefined;
  }
}

/** Whether stdout and stderr are the same pipe (`2>&1`): then the workers, given stderr, share it after all. */
function stdoutIsStderr(): boolean {
  try {
    const out = fstatSync(1);
    const err = fstatSync(2);
    return (out.isFIFO() || out.isSocket()) && out.ino === err.ino && out.dev === err.dev;
  } catch {
    return false;
  }
}

/**
 * In the cluster primary, before the first fork: gives each worker a pipe of its own for stdout
 * and relays the lines read from it to `target` (auditRelayTarget).
 */
export function relayAudit(log: RelayLog, target: string | number): AuditRelay {
  cluster.setupPrimary({ stdio: [0, 'pipe', 2, 'ipc'] });
  // Merged with stderr, the pipe is set back to blocking as each worker starts and exits: set it
  // non-blocking again then (right after the fork, before any write; at exit, a moment late).
  const keepNonBlocking = stdoutIsStderr()
    ? () => void (process.stdout as unknown as { _handle?: { setBlocking?(blocking: boolean): number } })._handle?.setBlocking?.(false)
    : () => undefined;
  const inputs = new Map<number, Readable>();
  let paused = false;
  let inputsClosed: (() => void) | undefined;
  let stopping = false;
  /** Lost lines not yet told to the workers they came from, by worker; told together once a turn. */
  const untold = new Map<number, number>();
  /** Lines lost since the last warning, and how many of them the workers they came from count. */
  let lostLines = 0;
  let countedByWorkers = 0;
  let lastError: unknown;
  /** Whether lines were lost, and whether that was warned of: a stdout gone is warned of even when it held no line. */
  let failed = false;
  let warned = false;
  let telling = false;

  const where = typeof target === 'number' ? 'stdout' : 'AUDIT_LOG_FILE';
  const warn = () => {
    if (!failed || (warned && lostLines === 0)) return;
    warned = true;
    log.warn({ err: lastError, lines: lostLines, countedByWorkers }, `audit lines lost: not written to ${where}`);
    lostLines = 0;
    countedByWorkers = 0;
  };
  /** Tells each worker how many of its lines were lost; those of a worker that cannot hear are counted here. */
  const tell = () => {
    telling = false;
    const message = lastError instanceof Error ? lastError.message : String(lastError);
    for (const [id, lines] of untold) {
      const worker = cluster.workers?.[id];
      if (!stopping && worker?.isConnected() === true) {
        countedByWorkers += lines;
        const lost: LostMessage = { type: lostType, lines, message };
        worker.send(lost, () => undefined);
      }
    }
    untold.clear();
    // The first loss at once; later ones at the close (the workers warn of theirs as they hear).
    if (!warned) warn();
  };
  const output = new AuditOutput<number>(target, {
    onLost(error, lines, owner) {
      failed = true;
      lastError = error;
      lostLines += lines;
      if (owner !== undefined && lines > 0) untold.set(owner, (untold.get(owner) ?? 0) + lines);
      if (paused) {
        // Read on, every line counted as lost, to the end of each pipe: a pipe cut here would
        // drop, counted by no one, the lines it and this process still held, which their
        // worker had handed over.
        paused = false;
        for (const input of inputs.values()) input.resume();
      }
      if (!telling) {
        telling = true;
        setImmediate(tell);
      }
    },
    onWritten() {
      if (paused && output.pending < relayHoldBytes / 2) {
        paused = false;
        for (const input of inputs.values()) input.resume();
      }
    },
  });

  return {
    attach(worker) {
      keepNonBlocking();
      worker.once('exit', keepNonBlocking);
      const input = worker.process.stdio[workerStdout] as Readable | null | undefined;
      if (input === null || input === undefined) return;
      input.on('error', () => undefined);
      if (output.stopped !== undefined) {
        input.destroy();
        return;
      }
      inputs.set(worker.id, input);
      // Bytes after the last whole line: the start of a line the next read completes.
      const partial: Buffer[] = [];
      input.on('data', (data: Buffer) => {
        const end = data.lastIndexOf(0x0a) + 1;
        if (end === 0) {
          partial.push(data);
          return;
        }
        let lines = data.subarray(0, end);
        if (partial.length > 0) lines = Buffer.concat([...partial.splice(0), lines]);
        if (end < data.length) partial.push(data.subarray(end));
        output.write(lines, worker.id);
        if (!paused && output.pending >= relayHoldBytes) {
          paused = true;
          for (const each of inputs.values()) each.pause();
        }
      });
      if (paused) input.pause();
      input.once('close', () => {
        inputs.delete(worker.id);
        // A worker killed mid-write leaves the start of a line: it never reaches stdout.
        if (partial.length > 0 && output.stopped === undefined) log.warn({ worker: worker.id }, 'a worker\'s last audit line was cut short by its exit: dropped');
        if (inputs.size === 0) inputsClosed?.();
      });
    },
    async close(waitMs) {
      const deadline = performance.now() + waitMs;
      if (inputs.size > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          new Promise<void>((resolve) => (inputsClosed = resolve)),
          new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs))),
        ]);
        clearTimeout(timer);
      }
      await output.end(Math.max(0, deadline - performance.now()));
      // The lines the close gave up, now, before the process exits: the workers that would count them are gone.
      if (telling) tell();
      warn();
    },
    exitFlush: () => output.exitFlush(),
    stopping() {
      // Lines already lost are told first: a worker hears them before it is asked to stop.
      if (telling) tell();
      stopping = true;
    },
  };
}
