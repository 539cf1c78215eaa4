import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../env.js';

const safeId = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** Takes a caller's X-Request-ID when it is short and plain, makes one otherwise, and echoes it. */
export function requestId(): MiddlewareHandler<AppEnv> {
  return async function requestIdMiddleware(c, next) {
    const given = c.req.header('x-request-id');
    const id = given !== undefined && safeId.test(given) ? given : randomUUID();
    c.set('requestId', id);
    await next();
    c.res.headers.set('x-request-id', id);
  };
}
