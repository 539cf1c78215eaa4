import type { Context, MiddlewareHandler } from 'hono';
import { identifyCaller, maximumKeyLength, type Caller, type CallerKeys } from '../../caller/keys.js';
import type { AppEnv } from '../env.js';
import { ProblemError } from '../problem.js';

/** Paths answered only to authenticated callers: every decision endpoint, present and future. */
export const decisionPathPrefixes: readonly string[] = ['/decide', '/access/v1'];

const challenge = 'Bearer realm="invoice-pdp"';
const bearerScheme = /^Bearer +/i;
// A credential no configured key could equal is refused without hashing it, however long.
const wellFormedKey = new RegExp(`^[\\x21-\\x7e]{1,${maximumKeyLength}}$`);

/** Anyone, when no caller keys are configured: as before keys existed, they may send subjects. */
const anonymousTrusted: Caller = Object.freeze({ id: 'anonymous', trusted: true });
/** Anyone on an unprotected path such as `/healthz`. */
const anonymous: Caller = Object.freeze({ id: 'anonymous', trusted: false });

/** Whether a path is one of `prefixes` or below one; the `/`-ended forms are made once, not per request. */
function underPrefixes(prefixes: readonly string[]): (path: string) => boolean {
  const below = prefixes.map((p) => `${p}/`);
  return (path) => prefixes.includes(path) || below.some((p) => path.startsWith(p));
}

/**
 * What follows `Bearer ` in the Authorization header, whatever its form, or undefined when the
 * request sent no bearer credential: one sent but malformed is still a key that was not accepted.
 */
export function bearerCredential(c: Context): string | undefined {
  const header = c.req.header('authorization') ?? '';
  const scheme = bearerScheme.exec(header);
  const credential = scheme === null ? '' : header.slice(scheme[0].length).trimEnd();
  return credential === '' ? undefined : credential;
}

/** The 401 for `key`, missing or not accepted, of the kind the endpoint takes: a caller key, or an admin key. */
function unauthenticated(key: string | undefined, kind: 'caller' | 'admin' = 'caller'): ProblemError {
  const aKey = kind === 'admin' ? 'an admin key' : 'a caller key';
  return key === undefined
    ? new ProblemError('unauthenticated', `send ${aKey}${kind === 'admin' ? ' (PDP_ADMIN_KEYS)' : ''} as "Authorization: Bearer <key>"`, [{ path: 'Authorization', message: `required: Bearer and ${aKey}` }], { 'www-authenticate': challenge })
    : new ProblemError('unauthenticated', `the ${kind} key is not accepted`, [{ path: 'Authorization', message: `not an accepted ${kind} key` }], { 'www-authenticate': `${challenge}, error="invalid_token"` });
}

export interface CallerAuthOptions {
  /** Caller keys; with no API or trusted keys, every caller is accepted as trusted. */
  readonly keys?: CallerKeys;
  /** Path prefixes that need a key. */
  readonly protect?: readonly string[];
}

/**
 * Who calls, for routes and audit: callers of the decision endpoints are authenticated by
 * `Authorization: Bearer <key>`. Throws 401 with a `WWW-Authenticate` challenge when the key
 * is missing or unknown.
 */
export function callerIdentifier(options: CallerAuthOptions = {}): (c: Context<AppEnv>) => Caller {
  const keys = options.keys;
  const isProtected = underPrefixes(options.protect ?? decisionPathPrefixes);
  const enabled = keys !== undefined && keys.api.size + keys.trusted.size > 0;
  return function callerOf(c) {
    if (!isProtected(c.req.path)) return anonymous;
    if (!enabled) return anonymousTrusted;
    const key = bearerCredential(c);
    const caller = key !== undefined && wellFormedKey.test(key) ? identifyCaller(keys, key) : undefined;
    if (caller === undefined) throw unauthenticated(key);
    return caller;
  };
}

/**
 * Guards `/admin/*`: with no admin keys configured the admin endpoints do not exist (404);
 * otherwise they need an admin key (401).
 */
export function adminAuth(options: { readonly keys?: CallerKeys } = {}): MiddlewareHandler<AppEnv> {
  const ring = options.keys?.admin;
  return async function adminAuthMiddleware(c, next) {
    if (ring === undefined || ring.size === 0) {
      throw new ProblemError('not_found', `no route for ${c.req.method} ${c.req.path}`);
    }
    const key = bearerCredential(c);
    const id = key !== undefined && wellFormedKey.test(key) ? ring.match(key) : undefined;
    if (id === undefined) throw unauthenticated(key, 'admin');
    c.set('caller', { id, trusted: false });
    await next();
  };
}

/**
 * Refuses (403) a caller that is not trusted to state a subject's claims itself. Its key was
 * accepted but does not give access to what it asked: RFC 6750 §3 has that answered with a
 * challenge, `insufficient_scope` (§3.1), so that a client tells it from a key refused (401).
 */
export function requireTrustedCaller(
  c: Context<AppEnv>,
  path = '$.subject',
  detail = 'this caller may not send pre-verified subject claims; send a token',
): void {
  if (c.get('caller').trusted) return;
  throw new ProblemError('forbidden', detail, [
    { path, message: 'only trusted callers may send subject claims' },
  ], { 'www-authenticate': `${challenge}, error="insufficient_scope"` });
}
