import type { Context } from 'hono';
import type { DecisionEndpoint, DecisionMeta } from '../decision/record.js';
import type { AppEnv } from './env.js';

/**
 * What a route passes along with a decision request, for metrics and the audit log. Kept with
 * the request, so that answering it without its decisions (a timeout) can mark them abandoned;
 * abandoned from the start when the request was answered before its route asked (a 408 while
 * the body was still coming).
 */
export function decisionMeta(c: Context<AppEnv>, endpoint: DecisionEndpoint): DecisionMeta {
  const meta: DecisionMeta = { endpoint, requestId: c.get('requestId'), traceId: c.get('traceId'), caller: c.get('caller'), abandoned: c.get('answered') === true };
  c.set('decisionMeta', meta);
  return meta;
}
