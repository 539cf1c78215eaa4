import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import type { AppEnv } from '../env.js';

/** The longest caller id echoed; a longer one is replaced by a fresh id. */
const maxRequestIdLength = 1024;

/**
 * A header value of visible ASCII, spaces and tabs (RFC 9110 §5.5 without obs-text). Node's
 * parser already refuses CR, LF, NUL and the other controls; this holds for requests that never
 * went through it (a `fetch` handler called directly) too. Bytes beyond ASCII (obs-text, which
 * RFC 9110 deprecates) are left out because they cannot be echoed as they came: Node reads them
 * as Latin-1 and, writing a response whose length is known up front, sends its headers as UTF-8,
 * so `ü` would come back as `Ã¼`. Such an id is replaced rather than answered mangled.
 */
const fieldValue = /^[\t\x20-\x7e]+$/;

/**
 * The caller's X-Request-ID, verbatim (AuthZEN 1.0, Request Identification: the PDP MUST answer
 * with the same identifier), when it is 1–1024 characters of printable ASCII, spaces and tabs; a
 * fresh UUID otherwise (absent, empty, longer, or not ASCII). It is only ever written as a
 * response header or inside JSON (problem bodies, log and audit lines), which escapes it.
 * `incoming`, the request as Node read it, tells an id sent in two field lines, which Node joins
 * into one value (`a, b`): that names no one request, and is replaced too.
 */
export function requestIdFrom(given: string | undefined, incoming?: IncomingMessage): string {
  if (given === undefined || given.length > maxRequestIdLength || !fieldValue.test(given)) return randomUUID();
  // Only a value holding a comma can be a join: the usual id costs no look at the raw headers.
  return incoming !== undefined && given.includes(',') && fieldLines(incoming, 'x-request-id') > 1 ? randomUUID() : given;
}

/** How many field lines named `name` (lower case) the head of `incoming` holds. */
function fieldLines(incoming: IncomingMessage, name: string): number {
  const raw = incoming.rawHeaders;
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]?.toLowerCase() === name) count += 1;
  return count;
}

/**
 * A JSON response with X-Request-ID set from the start, as plain headers. Adding the header to
 * a finished response instead makes @hono/node-server build a Headers object for it, which
 * costs a hot route a measurable share of its time.
 */
export function jsonWithRequestId(c: Context<AppEnv>, body: unknown): Response {
  const res = new Response(JSON.stringify(body), {
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
