import type { MiddlewareHandler } from 'hono';
import { traceIdFrom } from '../../telemetry/trace-context.js';
import type { AppEnv } from '../env.js';

/** Takes the trace id from a valid W3C `traceparent` header, for the audit log. */
export function traceContext(): MiddlewareHandler<AppEnv> {
  return function traceContextMiddleware(c, next) {
    c.set('traceId', traceIdFrom(c.req.header('traceparent')));
    return next();
  };
}
