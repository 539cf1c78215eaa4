import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';
import { jsonPath } from '../policy/json-path.js';
import { noStore } from './cache-control.js';
import type { AppEnv } from './env.js';

/** The closed list of problems this service reports, with their HTTP status and title. */
export const problemTypes = {
  invalid_request: { status: 400, title: 'Invalid request' },
  malformed_json: { status: 400, title: 'Malformed JSON' },
  limit_exceeded: { status: 400, title: 'Limit exceeded' },
  unauthenticated: { status: 401, title: 'Unauthenticated' },
  forbidden: { status: 403, title: 'Forbidden' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  policy_invalid: { status: 422, title: 'Policy set rejected' },
  client_timeout: { status: 408, title: 'Request timeout' },
  expectation_failed: { status: 417, title: 'Expectation failed' },
  headers_too_large: { status: 431, title: 'Request header fields too large' },
  internal: { status: 500, title: 'Internal error' },
  not_implemented: { status: 501, title: 'Not implemented' },
  http_version_not_supported: { status: 505, title: 'HTTP version not supported' },
  unavailable: { status: 503, title: 'Service unavailable' },
  timeout: { status: 503, title: 'Timed out' },
} as const satisfies Record<string, { status: ContentfulStatusCode; title: string }>;

export type ProblemCode = keyof typeof problemTypes;

/** One failing field: where (`$.resource.type`) and what is wrong; `file` and `rule` for policy sources. */
export interface FieldError {
  readonly path: string;
  readonly message: string;
  readonly file?: string;
  readonly rule?: string;
}

/** An error that maps straight to a problem response. */
export class ProblemError extends Error {
  override readonly name = 'ProblemError';

  constructor(
    readonly code: ProblemCode,
    readonly detail: string,
    readonly errors?: readonly FieldError[],
    readonly headers?: Readonly<Record<string, string>>,
    /** Members the body carries beside the standard ones (RFC 9457 §3.2 extension members). */
    readonly members?: Readonly<Record<string, unknown>>,
  ) {
    super(detail);
  }
}

/** Field errors from a zod failure, paths rooted at the request body. */
export function fieldErrors(error: ZodError): FieldError[] {
  return error.issues.map((issue) => ({ path: jsonPath(issue.path), message: issue.message }));
}

/** The RFC 9457 body for a problem; also written by the server for requests Hono never sees. */
export function problemBody(error: ProblemError, instance: string, requestId: string | undefined): string {
  const { status, title } = problemTypes[error.code];
  return JSON.stringify({
    type: `urn:invoice-pdp:problem:${error.code}`,
    title,
    status,
    detail: error.detail,
    instance,
    requestId,
    ...(error.errors !== undefined && { errors: error.errors }),
    ...error.members,
  });
}

/** An RFC 9457 application/problem+json response carrying the request id; no cache keeps it (see `noStore`). */
export function problemResponse(error: ProblemError, instance: string, requestId: string): Response {
  return new Response(problemBody(error, instance, requestId), {
    status: problemTypes[error.code].status,
    headers: { 'content-type': 'application/problem+json', ...noStore, 'x-request-id': requestId, ...error.headers },
  });
}

/**
 * The path of a request's URL or target as sent, percent-encoded: `/decide` of `/decide?x=1`
 * and of `http://pdp/decide?x=1` (the absolute form a proxy may send, in any case of its
 * scheme); empty for a target of another form (`*`, `ftp://…`). `instance` is a URI reference
 * (RFC 9457 §3.1.5), which the decoded path routes go by (`/dec ide`, `/€`) is not; the
 * answers the server gives itself (server-answers.ts) name the target alike.
 */
export function sentPath(target: string): string {
  let path = target;
  if (!target.startsWith('/')) {
    const scheme = /^https?:\/\/[^/?#]*/i.exec(target);
    if (scheme === null) return '';
    path = target.slice(scheme[0].length);
    if (!path.startsWith('/')) return '/';
  }
  const end = path.search(/[?#]/);
  return end === -1 ? path : path.slice(0, end);
}

/** The problem response to the request `c` is answering. */
export function problem(c: Context<AppEnv>, error: ProblemError): Response {
  return problemResponse(error, sentPath(c.req.url), c.get('requestId') ?? '');
}
