import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../env.js';
import { ProblemError } from '../problem.js';

export interface AdminAuthOptions {
  /** Accepted keys: the key itself, or `sha256:` and the hex SHA-256 digest of the key. */
  readonly keys: readonly string[];
}

const hashedKey = /^sha256:([0-9a-f]{64})$/i;
const bearer = /^Bearer[ ]+([^\s]+)[ ]*$/i;

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function unauthenticated(detail: string, error?: string): ProblemError {
  const challenge = `Bearer realm="invoice-pdp admin"${error === undefined ? '' : `, error="${error}"`}`;
  return new ProblemError('unauthenticated', detail, undefined, { 'www-authenticate': challenge });
}

/**
 * Admits requests carrying `Authorization: Bearer <admin key>`, answering 401 otherwise.
 * Keys are compared as SHA-256 digests with a constant-time comparison against every
 * configured key, so neither the key's length nor its prefix leaks through timing.
 */
export function adminAuth(options: AdminAuthOptions): MiddlewareHandler<AppEnv> {
  if (options.keys.length === 0) throw new Error('adminAuth needs at least one key');
  const digests = options.keys.map((key) => {
    const hashed = hashedKey.exec(key);
    return hashed?.[1] === undefined ? sha256(key) : Buffer.from(hashed[1], 'hex');
  });
  return async function adminAuthMiddleware(c, next) {
    const presented = bearer.exec(c.req.header('authorization') ?? '')?.[1];
    if (presented === undefined) throw unauthenticated('an admin key is required: Authorization: Bearer <key>');
    const digest = sha256(presented);
    let accepted = false;
    for (const expected of digests) accepted = timingSafeEqual(expected, digest) || accepted;
    if (!accepted) throw unauthenticated('the admin key is not valid', 'invalid_token');
    await next();
  };
}
