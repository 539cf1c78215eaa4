import type { HttpBindings } from '@hono/node-server';
import type { Context, MiddlewareHandler } from 'hono';
import type { Caller } from '../../caller/keys.js';
import { traceIdFrom } from '../../telemetry/trace-context.js';
import type { AppEnv } from '../env.js';
import { ProblemError } from '../problem.js';
import { routeTemplate, type HttpObserver } from './http-metrics.js';
import { echoRequestId, requestIdFrom } from './request-id.js';
import type { RequestDeadlines } from './timeout.js';
import { bodyStillArriving } from '../unfinished-body.js';

export interface RequestFrameOptions {
  /** The caller of this request; throws a problem (401) to refuse it. */
  readonly caller: (c: Context<AppEnv>) => Caller;
  readonly deadlines: RequestDeadlines;
  /** Told of every request once answered, when HTTP metrics are on. */
  readonly observer?: HttpObserver;
  /** Answers an error met in the frame (401, 503 `timeout`), as the app's error handler does. */
  readonly answer: (error: unknown, c: Context<AppEnv>) => Response;
}

/**
 * A deadline met while the client is still sending its request is the client's delay, not the
 * service's: 408 `client_timeout`, closing the connection (the rest of the body will not be
 * read), rather than 503 `timeout` with an invitation to retry.
 */
function blamed(error: unknown, c: Context<AppEnv>): unknown {
  if (!(error instanceof ProblemError) || error.code !== 'timeout' || !bodyStillArriving(c)) return error;
  return new ProblemError('client_timeout', 'the request was not received in time', undefined, { connection: 'close' });
}

/**
 * What wraps every request: its id (X-Request-ID, taken or made, and echoed), its W3C trace id,
 * its caller, its deadline, and its method, route, status and duration for the HTTP metrics.
 * One middleware rather than one per concern: every layer of Hono's middleware chain is an
 * async dispatch each request pays for (with one deadline timer for all requests instead of one
 * each, about 2% of a request's cost in process; BENCHMARKS.md, "The hot path of `/decide`").
 */
export function requestFrame(options: RequestFrameOptions): MiddlewareHandler<AppEnv> {
  const { caller, deadlines, observer, answer } = options;
  return async function requestFrameMiddleware(c, next) {
    const started = performance.now();
    c.set('startedAt', started);
    c.set('requestId', requestIdFrom(c.req.header('x-request-id'), (c.env as Partial<HttpBindings> | undefined)?.incoming));
    c.set('traceId', traceIdFrom(c.req.header('traceparent')));
    try {
      c.set('caller', caller(c));
      await deadlines.race(next(), started);
    } catch (error) {
      // Answered without its decisions: one still being made, or asked for later (a 408 comes
      // before the body is read), is given to no one, so not recorded. Marked once answered:
      // this answer is counted, anything the route meets afterwards is not.
      const meta = c.get('decisionMeta');
      if (meta !== undefined) meta.abandoned = true;
      c.res = answer(blamed(error, c), c);
      c.set('answered', true);
    }
    // Answered without its body read (a 401, 404 or 405), the rest still on its way: the
    // connection closes once that rest is read and dropped (see linger.ts). Announced as kept
    // alive, it was closed all the same, half a second on, by @hono/node-server's drain, and a
    // request the client sent behind the body went unanswered. Node parses a body only once the
    // request's head has been handed over, even when both came in one packet: the body is looked
    // at again once the bytes at hand are parsed.
    if (bodyStillArriving(c)) {
      await new Promise(setImmediate);
      if (bodyStillArriving(c)) c.res.headers.set('connection', 'close');
    }
    echoRequestId(c);
    observer?.httpRequest(c.req.method, routeTemplate(c), c.res.status, (performance.now() - started) / 1000);
  };
}
