import type { HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';
import type { AppEnv } from './env.js';
import { ProblemError } from './problem.js';

const close = { connection: 'close' };

/** Whether the body of the request `c` answers is still arriving: served by @hono/node-server, its IncomingMessage says. */
export function bodyStillArriving(c: Context<AppEnv>): boolean {
  const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming;
  return incoming !== undefined && !incoming.complete;
}

/**
 * What a failed read of the request body stands for. When the body did not all arrive, the
 * client went away, half-closed or broke the framing (a malformed chunk) midway, or Node's
 * request timeout ran out: the client's doing, a 400 (a 408 for the timeout) like any bad input,
 * counted as such and not logged as a fault, though the client may no longer be there to read it.
 * A read that fails on a body that did arrive whole is returned as it was: a fault of the service.
 */
export function unfinishedBody(c: Context<AppEnv>, error: unknown): unknown {
  if (!bodyStillArriving(c)) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return new ProblemError('client_timeout', 'the request was not received in time', undefined, close);
  const why = typeof code === 'string' && code.startsWith('HPE_') && code !== 'HPE_INVALID_EOF_STATE'
    ? 'its framing is not valid HTTP/1.1'
    : 'the client stopped sending it';
  return new ProblemError('invalid_request', `the body was not received in full: ${why}`, [{ path: '$', message: 'incomplete body' }], close);
}
