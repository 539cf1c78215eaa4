import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../env.js';
import { ProblemError } from '../problem.js';

/**
 * Answers 503 problem+json (with Retry-After) when the rest of the chain has not answered
 * within `ms`. What the chain produces afterwards is dropped, so a slow dependency can
 * delay an answer but never turn a late one into a permit. It bounds waiting on I/O only:
 * synchronous work (policy evaluation) cannot be interrupted and is bounded at load instead.
 */
export function requestTimeout(ms: number): MiddlewareHandler<AppEnv> {
  if (!Number.isFinite(ms) || ms <= 0) throw new RangeError(`request timeout must be a positive number of ms, got ${ms}`);
  return async function requestTimeoutMiddleware(c, next) {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new ProblemError('timeout', `no answer within ${ms} ms`, undefined, { 'retry-after': '1' }));
      }, ms);
    });
    try {
      await Promise.race([next(), expired]);
    } finally {
      clearTimeout(timer);
    }
  };
}
