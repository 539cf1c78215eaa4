import { pino, type DestinationStream, type Logger } from 'pino';
import { AuditOutput } from './telemetry/audit-destination.js';

/** Unwritten log bytes beyond which lines are dropped: a stderr nobody reads must not grow memory. */
const maxPendingBytes = 1024 * 1024;

const service = 'invoice-pdp';

/**
 * Lines to stderr that never block the process, nor its exit, when nobody reads them: a pipe is
 * written without blocking (a file on the thread pool, where writes do not wait on a reader), a
 * line at a time, so a line shorter than 4 KiB lands whole among the lines of the other processes
 * writing the same pipe (the workers under WORKERS share the primary's stderr). Beyond 1 MiB
 * unwritten, lines are dropped, and the next line written says how many; a line written when
 * nothing waits goes out whatever its size: the bound is on what piles up unread. At exit what is left is
 * written synchronously, waiting at most 500 ms for room (AuditOutput.exitFlush).
 */
function stderrLines(base: Readonly<Record<string, unknown>>): DestinationStream {
  // A failed stderr (its reader gone) has nowhere to report to: its lines are dropped.
  const output = new AuditOutput<undefined>(2, { onLost: () => undefined });
  process.once('exit', () => output.exitFlush());
  let dropped = 0;
  return {
    write(line: string) {
      if (output.stopped !== undefined) return;
      const data = Buffer.from(line, 'utf8');
      if (output.pending > 0 && output.pending + data.length > maxPendingBytes) {
        dropped += 1;
        return;
      }
      if (dropped > 0) {
        const note = { level: pino.levels.values['warn'], time: Date.now(), ...base, lines: dropped, msg: 'application log lines dropped: over 1 MiB of lines was waiting for stderr to be read' };
        output.write(Buffer.from(`${JSON.stringify(note)}\n`, 'utf8'));
        dropped = 0;
      }
      output.write(data);
    },
  };
}

/**
 * Application log (not the audit log): JSON lines on stderr, level from config. `worker`, under
 * WORKERS, is in each of a worker's lines: the workers share the primary's stderr, and without it
 * one worker's rejected reload read the same as another's, with no way to tell which worker kept
 * which version.
 */
export function createLogger(level: string, worker?: number): Logger {
  const base = { service, ...(worker !== undefined && { worker }) };
  return pino({ level, base }, stderrLines(base));
}
