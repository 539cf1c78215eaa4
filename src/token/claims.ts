import type { Subject } from '../decision/types.js';

/** Claims as a verified token (or a trusted caller) states them. */
export type Claims = Readonly<Record<string, unknown>>;

/** Where an identity provider puts the subject id, roles and scopes. Paths are dotted. */
export interface ClaimMapping {
  /** Claim holding the subject id, e.g. `sub` or Entra ID's `oid`. */
  readonly subject: string;
  /** Claims holding roles (array or space-separated string); their union is taken. */
  readonly roles: readonly string[];
  /** Claims holding scopes (space-separated string or array); their union is taken. */
  readonly scopes: readonly string[];
  /** Prefixes cut from role names, e.g. `ROLE_`; the first that matches is cut. */
  readonly rolePrefixes: readonly string[];
  /**
   * The subject type of these tokens' subjects, `user` unless set. Entity data is found by type
   * and id, so an issuer whose subject ids could equal another's gets a type of its own.
   */
  readonly subjectType?: string;
}

/** The mapping used unless configured otherwise: `sub`; `roles`/`role`; `scope`/`scp`. */
export const defaultClaimMapping: ClaimMapping = Object.freeze({
  subject: 'sub',
  roles: Object.freeze(['roles', 'role']),
  scopes: Object.freeze(['scope', 'scp']),
  rolePrefixes: Object.freeze([]),
});

/** Turns claims into a subject; `id` and `type`, when given, come from a trusted caller. */
export type ClaimMapper = (claims: Claims, type?: string, id?: string) => Subject;

const whitespace = /\s/;
const whitespaceRun = /\s+/;

/** Adds the strings `value` holds (an array of strings, or a space-separated string) to `into`. */
function addStrings(value: unknown, into: Set<string>): void {
  if (typeof value === 'string') {
    if (!whitespace.test(value)) {
      if (value.length > 0) into.add(value);
      return;
    }
    for (const part of value.split(whitespaceRun)) if (part.length > 0) into.add(part);
  } else if (Array.isArray(value)) {
    for (const item of value) if (typeof item === 'string') into.add(item);
  }
}

/**
 * The value at a dotted path. A key that itself contains dots (Auth0's
 * `https://example.com/roles`) is matched whole before the path is split; only own
 * properties are read, so `__proto__` or `constructor` never resolve.
 */
export function claimAt(value: unknown, path: string): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  if (Object.hasOwn(value, path)) return (value as Record<string, unknown>)[path];
  for (let dot = path.indexOf('.'); dot > 0; dot = path.indexOf('.', dot + 1)) {
    const head = path.slice(0, dot);
    if (!Object.hasOwn(value, head)) continue;
    const found = claimAt((value as Record<string, unknown>)[head], path.slice(dot + 1));
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The strings at every path, each once, in the order first met. */
function union(claims: Claims, paths: readonly string[]): Set<string> {
  const found = new Set<string>();
  for (const path of paths) addStrings(claimAt(claims, path), found);
  return found;
}

function stripPrefix(role: string, prefixes: readonly string[]): string {
  const prefix = prefixes.find((p) => role.startsWith(p) && role.length > p.length);
  return prefix === undefined ? role : role.slice(prefix.length);
}

/** A claim mapper for one mapping. Every claim stays available under `properties`. */
export function createClaimMapper(mapping: ClaimMapping): ClaimMapper {
  const prefixes = mapping.rolePrefixes;
  const subjectType = mapping.subjectType ?? 'user';
  return (claims, type = subjectType, id) => {
    const sub = id ?? claimAt(claims, mapping.subject);
    let roles = union(claims, mapping.roles);
    if (prefixes.length > 0) roles = new Set([...roles].map((r) => stripPrefix(r, prefixes)));
    return {
      type,
      id: typeof sub === 'string' ? sub : '',
      roles: [...roles],
      scopes: [...union(claims, mapping.scopes)],
      properties: claims,
    };
  };
}

/**
 * A claim mapper choosing the mapping by the claims' `iss` (verified by then), falling back
 * to the default mapping: one PDP can serve Keycloak and Entra ID tokens side by side.
 */
export function issuerClaimMapper(fallback: ClaimMapping, byIssuer: ReadonlyMap<string, ClaimMapping>): ClaimMapper {
  const base = createClaimMapper(fallback);
  const mappers = new Map([...byIssuer].map(([issuer, mapping]) => [issuer, createClaimMapper(mapping)]));
  return (claims, type, id) => {
    const iss = claims['iss'];
    const mapper = typeof iss === 'string' ? mappers.get(iss) : undefined;
    return (mapper ?? base)(claims, type, id);
  };
}

/**
 * Maps claims with the default mapping: id from `sub` (or the given id), roles from `roles`
 * and `role`, scopes from `scope` (space-separated) and `scp` (array or string).
 */
export const claimsToSubject: ClaimMapper = createClaimMapper(defaultClaimMapping);
