import { createHash } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson } from '../../canonical-json.js';
import type { CursorSeal } from '../../decision/cursor-seal.js';
import type { SearchQuery } from '../../decision/search.js';
import { ProblemError } from '../problem.js';

/** What a token holds, sealed: where the next page resumes, and the search it belongs to. */
const tokenSchema = z.object({ a: z.string(), q: z.string(), l: z.number().nullable() });

/** The search a token belongs to: its request without `page`, and the `page.limit` it asked with. */
export interface PageTokenScope {
  /** `searchFingerprint` of the request. */
  readonly search: string;
  /** `page.limit` as the search gave it; undefined when it gave none. */
  readonly limit: number | undefined;
}

/**
 * A short hash of the search a token belongs to: the query as decided, not the body as sent, so
 * a page that states what the first left out (`"context": {}`, `"properties": {}`) resumes it.
 */
export function searchFingerprint(query: SearchQuery): string {
  return createHash('sha256').update(canonicalJson(query)).digest('base64url').slice(0, 16);
}

/**
 * An opaque `next_token`: where the next page resumes, bound to the search it came from and
 * sealed (see CursorSeal), so it names no candidate and cannot be made or altered by hand.
 * It grants nothing: every hit on every page is evaluated afresh.
 */
export function encodePageToken(seal: CursorSeal, after: string, scope: PageTokenScope): string {
  return seal.seal(JSON.stringify({ a: after, q: scope.search, l: scope.limit ?? null }));
}

/**
 * Where a token this service issued for this same search resumes, and the `page.limit` it was
 * issued with; a 400 otherwise, at `path`: where the request put the token (`$.page.token`, or
 * `$.page.next_token`). AuthZEN has every page of a search ask the same limit: a request that
 * gives another (`scope.limit`) is a 400 at `$.page.limit`; one that gives none keeps the token's.
 */
export function decodePageToken(seal: CursorSeal, token: string, scope: PageTokenScope, path: string): { after: string } & Pick<PageTokenScope, 'limit'> {
  const invalid = (at: string, message: string) => new ProblemError('invalid_request', `${at}: ${message}`, [{ path: at, message }]);
  const opened = seal.open(token);
  let raw: unknown;
  try {
    raw = opened === undefined ? undefined : JSON.parse(opened);
  } catch {
    raw = undefined;
  }
  const parsed = tokenSchema.safeParse(raw);
  if (!parsed.success) throw invalid(path, 'not a page token this service issued');
  const { a: after, q: search, l: limit } = parsed.data;
  if (search !== scope.search) throw invalid(path, 'this token belongs to a different search; repeat the request that returned it');
  if (scope.limit !== undefined && scope.limit !== limit) {
    throw invalid('$.page.limit', `must be the page.limit of the request that returned the token (${limit === null ? 'none' : String(limit)}), or left out`);
  }
  return { after, limit: limit ?? undefined };
}
