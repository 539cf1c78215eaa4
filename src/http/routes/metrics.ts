import { createHash, timingSafeEqual } from 'node:crypto';
import { Hono } from 'hono';
import type { MetricsSource } from '../../telemetry/cluster-metrics.js';
import type { AppEnv } from '../env.js';
import { ProblemError } from '../problem.js';

const bearer = /^Bearer +(\S+) *$/i;

// Comparing digests keeps the comparison constant-time whatever length the caller sends.
function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** GET /metrics in the Prometheus text format; with `token`, only for `Authorization: Bearer <token>`. */
export function metricsRoutes(source: MetricsSource, token: string | undefined): Hono<AppEnv> {
  const expected = token === undefined ? undefined : digest(token);
  return new Hono<AppEnv>().get('/metrics', async (c) => {
    if (expected !== undefined) {
      const given = bearer.exec(c.req.header('authorization') ?? '')?.[1];
      if (given === undefined || !timingSafeEqual(digest(given), expected)) {
        throw new ProblemError('unauthenticated', 'send the metrics token as "Authorization: Bearer <token>"', undefined, {
          'www-authenticate': 'Bearer realm="metrics"',
        });
      }
    }
    return c.body(await source.metrics(), 200, { 'content-type': source.contentType });
  });
}
