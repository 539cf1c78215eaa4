import { Hono } from 'hono';
import type { RedisState } from '../../cache/redis.js';
import type { PolicyStore } from '../../policy/store.js';
import type { KeySetState } from '../../token/jwks.js';
import { noStore } from '../cache-control.js';
import type { AppEnv } from '../env.js';

/**
 * GET /healthz (the process answers) and GET /readyz (a policy set is loaded and serving, and
 * the service is not stopping). Redis and remote token key sets are reported but never make the
 * service unready: without Redis decisions are evaluated, and tokens whose keys are missing are
 * denied. Once `stopping` says so (a drain has begun), /readyz answers 503 with the same body,
 * `status: "stopping"`: a balancer that checks over a connection kept alive from before would
 * otherwise go on routing to a process that is going away.
 */
export function healthRoutes(
  policies: PolicyStore,
  redisState: () => RedisState = () => 'disabled',
  keySets: () => readonly { readonly url: string; readonly state: KeySetState }[] = () => [],
  stopping: () => boolean = () => false,
): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .get('/healthz', (c) => c.json({ status: 'ok' }, 200, noStore))
    .get('/readyz', (c) => {
      const { set, loadedAt } = policies.current;
      const stopped = stopping();
      return c.json({
        status: stopped ? 'stopping' : 'ready',
        policies: { version: set.version, rules: set.ruleCount, loadedAt: loadedAt.toISOString() },
        redis: redisState(),
        keySets: keySets(),
      }, stopped ? 503 : 200, noStore);
    });
}
