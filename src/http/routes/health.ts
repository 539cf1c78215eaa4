import { Hono } from 'hono';
import type { RedisState } from '../../cache/redis.js';
import type { PolicyStore } from '../../policy/store.js';
import type { KeySetState } from '../../token/jwks.js';
import type { AppEnv } from '../env.js';

/**
 * GET /healthz (the process answers) and GET /readyz (a policy set is loaded and serving).
 * Redis and remote token key sets are reported but never make the service unready: without
 * Redis decisions are evaluated, and tokens whose keys are missing are denied.
 */
export function healthRoutes(
  policies: PolicyStore,
  redisState: () => RedisState = () => 'disabled',
  keySets: () => readonly { readonly url: string; readonly state: KeySetState }[] = () => [],
): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .get('/healthz', (c) => c.json({ status: 'ok' }))
    .get('/readyz', (c) => {
      const { set, loadedAt } = policies.current;
      return c.json({
        status: 'ready',
        policies: { version: set.version, rules: set.ruleCount, loadedAt: loadedAt.toISOString() },
        redis: redisState(),
        keySets: keySets(),
      });
    });
}
