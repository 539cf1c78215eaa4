import { pino } from 'pino';
import type { AuditSink } from './audit.js';

/** Buffered bytes before a write: batching keeps a decision's share of logging to microseconds. */
const minLength = 4096;
/** Lines beyond this much unwritten data are dropped (and reported) rather than held in memory. */
const maxLength = 16 * 1024 * 1024;
/** A quiet service still gets its lines out within this many milliseconds. */
const flushIntervalMs = 1000;

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
    maxLength,
    periodicFlush: flushIntervalMs,
  });
  destination.on('error', onError);
  destination.on('drop', () => onError(new Error(`audit buffer over ${maxLength} bytes: line dropped`)));
  return destination;
}
