import { createHash } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson } from '../../canonical-json.js';
import { ProblemError } from '../problem.js';

const tokenSchema = z.object({ a: z.string(), q: z.string() });

/** A short hash of the search a token belongs to (endpoint and body without `page`). */
export function searchFingerprint(endpoint: string, body: unknown): string {
  return createHash('sha256').update(canonicalJson({ endpoint, body })).digest('base64url').slice(0, 16);
}

/**
 * An opaque `next_token`: where the next page resumes, bound to the search it came from.
 * It grants nothing: every hit on every page is evaluated afresh.
 */
export function encodePageToken(after: string, fingerprint: string): string {
  return Buffer.from(JSON.stringify({ a: after, q: fingerprint }), 'utf8').toString('base64url');
}

/**
 * The resume key in a token this service issued for this same search; a 400 otherwise, at
 * `path`: where the request put the token (`$.page.token`, or `$.page.next_token`).
 */
export function decodePageToken(token: string, fingerprint: string, path: string): string {
  const invalid = (message: string) => new ProblemError('invalid_request', `${path}: ${message}`, [{ path, message }]);
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalid('not a page token this service issued');
  }
  const parsed = tokenSchema.safeParse(raw);
  if (!parsed.success) throw invalid('not a page token this service issued');
  if (parsed.data.q !== fingerprint) throw invalid('this token belongs to a different search; repeat the request that returned it');
  return parsed.data.a;
}
