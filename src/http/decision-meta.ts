import type { Context } from 'hono';
import type { DecisionEndpoint, DecisionMeta } from '../decision/record.js';
import type { AppEnv } from './env.js';

/** What a route passes along with a decision request, for metrics and the audit log. */
export function decisionMeta(c: Context<AppEnv>, endpoint: DecisionEndpoint): DecisionMeta {
  return { endpoint, requestId: c.get('requestId'), traceId: c.get('traceId'), caller: c.get('caller') };
}
