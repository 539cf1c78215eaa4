import { createHash, timingSafeEqual } from 'node:crypto';
import { Hono } from 'hono';
import { MetricsUnavailableError, type MetricsSource } from '../../telemetry/cluster-metrics.js';
import { noStore } from '../cache-control.js';
import type { AppEnv } from '../env.js';
import { bearerCredential } from '../middleware/caller-auth.js';
import { ProblemError } from '../problem.js';

const challenge = 'Bearer realm="metrics"';

// Comparing digests keeps the comparison constant-time whatever length the caller sends.
function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** GET /metrics in the Prometheus text format; with `token`, only for `Authorization: Bearer <token>`. */
export function metricsRoutes(source: MetricsSource, token: string | undefined): Hono<AppEnv> {
  const expected = token === undefined ? undefined : digest(token);
  return new Hono<AppEnv>().get('/metrics', async (c) => {
    if (expected !== undefined) {
      const given = bearerCredential(c);
      if (given === undefined) {
        throw new ProblemError('unauthenticated', 'send the metrics token as "Authorization: Bearer <token>"', [{ path: 'Authorization', message: 'required: Bearer and the metrics token' }], { 'www-authenticate': challenge });
      }
      if (!timingSafeEqual(digest(given), expected)) {
        throw new ProblemError('unauthenticated', 'the metrics token is not accepted', [{ path: 'Authorization', message: 'not the metrics token' }], { 'www-authenticate': `${challenge}, error="invalid_token"` });
      }
    }
    let text: string;
    try {
      text = await source.metrics();
    } catch (error) {
      if (!(error instanceof MetricsUnavailableError)) throw error;
      throw new ProblemError('unavailable', `${error.message}: scrape again`, undefined, { 'retry-after': '5' });
    }
    return c.body(text, 200, { ...noStore, 'content-type': source.contentType });
  });
}
