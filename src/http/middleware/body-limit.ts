import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AppEnv } from '../env.js';
import { unfinishedBody } from '../unfinished-body.js';

export interface BodySizeLimitOptions {
  readonly maxSize: number;
  readonly onError: (c: Context<AppEnv>) => Response | Promise<Response>;
}

/**
 * Rejects bodies over `maxSize`. A body that declares its length is judged on the header alone,
 * without touching `c.req.raw.body`: reading that property makes @hono/node-server build a web
 * stream and a full Request for every call, which cost more than the decision itself. Only a
 * body without a length (chunked) is counted as it streams in, by Hono's own bodyLimit; a
 * failure to read it is answered as jsonBody answers one (see unfinishedBody).
 */
export function bodySizeLimit(options: BodySizeLimitOptions): MiddlewareHandler<AppEnv> {
  const streaming = bodyLimit({ maxSize: options.maxSize, onError: options.onError });
  // Not async: the promise of `next()` (or of the refusal) is passed through as it is.
  return function bodySizeLimitMiddleware(c, next) {
    const method = c.req.method;
    if (method === 'GET' || method === 'HEAD') return next();
    const length = c.req.header('content-length');
    if (length !== undefined && c.req.header('transfer-encoding') === undefined) {
      return Number.parseInt(length, 10) > options.maxSize ? Promise.resolve(options.onError(c)) : next();
    }
    return streaming(c, next).catch((error: unknown) => {
      throw unfinishedBody(c, error);
    });
  };
}
