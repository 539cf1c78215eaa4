import { hash } from 'node:crypto';
import { canonicalJson } from '../canonical-json.js';
import type { Query } from '../decision/types.js';

/**
 * The cache key of a decision: the prefix, then a SHA-256 over the policy version and the
 * canonical form of the query as evaluated (the resolved subject's claims, never a token).
 * A new policy version yields new keys, so a reload never reads an old decision.
 */
export function decisionKey(prefix: string, policyVersion: string, query: Query): string {
  const { subject, action, resource, context } = query;
  // Members in sorted order already, so the canonical form need not copy this level.
  return `${prefix}${hash('sha256', canonicalJson({ action, context, policyVersion, resource, subject }), 'base64url')}`;
}
