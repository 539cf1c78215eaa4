import type { HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';
import type { DecisionCaller, DecisionEndpoint, DecisionMeta } from '../decision/record.js';
import type { AppEnv } from './env.js';

type Outgoing = HttpBindings['outgoing'];

/**
 * A request's meta: abandoned once marked so, or, served by @hono/node-server, once its response
 * has closed before it was written whole (the client went away). Node marks a response
 * `destroyed` as it closes it, so that is read when asked, where a `close` listener on every
 * response cost each request 0.7-2.5 µs to add and remove.
 */
class RequestDecisionMeta implements DecisionMeta {
  readonly endpoint: DecisionEndpoint;
  readonly requestId: string;
  readonly traceId: string | undefined;
  readonly caller: DecisionCaller;
  #abandoned: boolean;
  readonly #outgoing: Outgoing | undefined;

  constructor(c: Context<AppEnv>, endpoint: DecisionEndpoint) {
    this.endpoint = endpoint;
    this.requestId = c.get('requestId');
    this.traceId = c.get('traceId');
    this.caller = c.get('caller');
    this.#abandoned = c.get('answered') === true;
    this.#outgoing = (c.env as Partial<HttpBindings> | undefined)?.outgoing;
  }

  get abandoned(): boolean {
    const outgoing = this.#outgoing;
    return this.#abandoned || (outgoing !== undefined && outgoing.destroyed && !outgoing.writableFinished);
  }

  set abandoned(abandoned: boolean) {
    this.#abandoned = abandoned;
  }
}

/**
 * What a route passes along with a decision request, for metrics and the audit log. Kept with
 * the request, so that answering it without its decisions (a timeout) can mark them abandoned;
 * abandoned from the start when the request was answered before its route asked (a 408 while
 * the body was still coming), and once its client closes the connection unanswered (served by
 * @hono/node-server, the request's ServerResponse says; one written whole leaves it as it is).
 */
export function decisionMeta(c: Context<AppEnv>, endpoint: DecisionEndpoint): DecisionMeta {
  const meta = new RequestDecisionMeta(c, endpoint);
  c.set('decisionMeta', meta);
  return meta;
}
