import type { Subject } from '../decision/types.js';

/** Claims as a verified token (or a trusted caller) states them. */
export type Claims = Readonly<Record<string, unknown>>;

function stringList(value: unknown): string[] | undefined {
  if (typeof value === 'string') return value.split(/\s+/).filter((s) => s.length > 0);
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return undefined;
}

/**
 * Maps claims to a subject: id from `sub` (or the given id), roles from `roles` (array) or
 * `role` (string), scopes from `scope` (space-separated) or `scp` (array or string).
 * Every claim stays available under `properties`.
 */
export function claimsToSubject(claims: Claims, type = 'user', id?: string): Subject {
  const sub = id ?? (typeof claims['sub'] === 'string' ? claims['sub'] : '');
  return {
    type,
    id: sub,
    roles: stringList(claims['roles']) ?? stringList(claims['role']) ?? [],
    scopes: stringList(claims['scope']) ?? stringList(claims['scp']) ?? [],
    properties: claims,
  };
}
