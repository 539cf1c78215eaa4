import { pino, type Logger } from 'pino';

/** Application log (not the audit log): JSON lines on stderr, level from config. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'invoice-pdp' } }, pino.destination(2));
}
