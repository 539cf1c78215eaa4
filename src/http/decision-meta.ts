import type { HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';
import type { DecisionEndpoint, DecisionMeta } from '../decision/record.js';
import type { AppEnv } from './env.js';

/**
 * Marks `meta` abandoned once the connection of the request `c` answers closes before the answer
 * is written: the client went away, and what the request still decides reaches no one. Served
 * by @hono/node-server, the request's ServerResponse says; `close` follows every response, so
 * one written whole leaves `meta` as it is.
 */
function abandonWhenClientGoes(c: Context<AppEnv>, meta: DecisionMeta): void {
  const outgoing = (c.env as Partial<HttpBindings> | undefined)?.outgoing;
  if (outgoing === undefined) return;
  if (outgoing.destroyed) {
    meta.abandoned = true;
    return;
  }
  outgoing.once('close', () => {
    if (!outgoing.writableFinished) meta.abandoned = true;
  });
}

/**
 * What a route passes along with a decision request, for metrics and the audit log. Kept with
 * the request, so that answering it without its decisions (a timeout) can mark them abandoned;
 * abandoned from the start when the request was answered before its route asked (a 408 while
 * the body was still coming), and once its client closes the connection unanswered.
 */
export function decisionMeta(c: Context<AppEnv>, endpoint: DecisionEndpoint): DecisionMeta {
  const meta: DecisionMeta = { endpoint, requestId: c.get('requestId'), traceId: c.get('traceId'), caller: c.get('caller'), abandoned: c.get('answered') === true };
  c.set('decisionMeta', meta);
  abandonWhenClientGoes(c, meta);
  return meta;
}
