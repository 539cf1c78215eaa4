import { Hono } from 'hono';
import type { RedisState } from '../../cache/redis.js';
import type { PolicyStore } from '../../policy/store.js';
import type { AppEnv } from '../env.js';

/**
 * GET /healthz (the process answers) and GET /readyz (a policy set is loaded and serving).
 * Redis is reported but never makes the service unready: without it decisions are evaluated.
 */
export function healthRoutes(policies: PolicyStore, redisState: () => RedisState = () => 'disabled'): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .get('/healthz', (c) => c.json({ status: 'ok' }))
    .get('/readyz', (c) => {
      const { set, loadedAt } = policies.current;
      return c.json({
        status: 'ready',
        policies: { version: set.version, rules: set.ruleCount, loadedAt: loadedAt.toISOString() },
        redis: redisState(),
      });
    });
}
