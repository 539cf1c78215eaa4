import { randomUUID } from 'node:crypto';
import type { Context } from 'hono';
import type { AppEnv } from '../env.js';

const safeId = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** A caller's X-Request-ID when it is short and plain, a fresh one otherwise. */
export function requestIdFrom(given: string | undefined): string {
  return given !== undefined && safeId.test(given) ? given : randomUUID();
}

/**
 * A JSON response with X-Request-ID set from the start, as plain headers. Adding the header to
 * a finished response instead makes @hono/node-server build a Headers object for it, which
 * costs a hot route a measurable share of its time.
 */
export function jsonWithRequestId(c: Context<AppEnv>, body: unknown, status = 200): Response {
  const res = new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', 'x-request-id': c.get('requestId') },
  });
  // Marks this very response as carrying the id (a per-request variable rather than a WeakSet
  // of responses, whose entries cost the garbage collector on every request).
  c.set('responseWithId', res);
  return res;
}

/** Puts the request's id on its response, unless jsonWithRequestId already did. */
export function echoRequestId(c: Context<AppEnv>): void {
  if (c.get('responseWithId') !== c.res) c.res.headers.set('x-request-id', c.get('requestId'));
}
