import type { Subject } from '../decision/types.js';
import { holdsSeenCharacter } from '../policy/schema.js';

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

/** The type of a token's subject unless its issuer's entry sets `subjectType`. */
export const defaultSubjectType = 'user';

/** The mapping used unless configured otherwise: `sub`; `roles`/`role`; `scope`/`scp`. */
export const defaultClaimMapping: ClaimMapping = Object.freeze({
  subject: 'sub',
  roles: Object.freeze(['roles', 'role']),
  scopes: Object.freeze(['scope', 'scp']),
  rolePrefixes: Object.freeze([]),
});

/**
 * Turns claims into a subject; `id` and `type`, when given, come from a trusted caller or entity
 * data, else from the claims (an id `""` where the subject claim names no one: see `subjectId`). `stored` claims (entity data) go under `claims`, each kind of claim the mapping reads
 * (subject, roles, scopes) taken from one side only (see `claimsOver`), the issuer from `claims`;
 * the stored claims named in `authoritative` go over them instead.
 */
export type ClaimMapper = (claims: Claims, type?: string, id?: string, stored?: Claims, authoritative?: readonly string[]) => Subject;

/**
 * Adds the strings `value` holds (an array of strings, or a string of names separated by spaces)
 * to `into`. Only SP (%x20) separates (RFC 6749 §3.3): split on any whitespace, a scope
 * `x\u00a0invoice.read`, one name to the issuer, would grant `invoice.read`. An array's item is
 * one name, spaces within it included (a group `Finance Team`): split, it would grant roles its
 * words name that the issuer never granted. A name that is empty or blank (see `namesSomething`)
 * is left out either way.
 */
function addStrings(value: unknown, into: Set<string>): void {
  if (typeof value === 'string') {
    for (const part of value.split(' ')) if (namesSomething(part)) into.add(part);
  } else if (Array.isArray(value)) {
    for (const item of value) if (typeof item === 'string' && namesSomething(item)) into.add(item);
  }
}

/**
 * Whether a role, a scope or a subject id names anything: one empty or made only of whitespace,
 * control or invisible characters (`""`, `" "`, a zero-width space) grants nothing, as `"a  b"`
 * holds no role between its spaces, though a condition counting roles (`size(subject.roles) > 0`)
 * would count it; as a subject id, it names no one. No rule can name one (policy/schema.ts), nor
 * entity data hold one as an id.
 */
function namesSomething(name: string): boolean {
  return holdsSeenCharacter(name);
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

/** `role` less the first of `prefixes` it begins with, where the rest names something (see `namesSomething`). */
function stripPrefix(role: string, prefixes: readonly string[]): string {
  const prefix = prefixes.find((p) => role.startsWith(p) && namesSomething(role.slice(p.length)));
  return prefix === undefined ? role : role.slice(prefix.length);
}

/** Whether reading `path` may look at the top-level claim `key`: the whole path, or a head of it (see `claimAt`). */
function reaches(path: string, key: string): boolean {
  return path.startsWith(key) && (path.length === key.length || path[key.length] === '.');
}

/**
 * `claims` over `stored`. Key by key is not enough where a kind of claim is read from several
 * paths: a caller whose scopes are in `scp` would gain a stored `scope`, one whose roles are in
 * `role` the stored `roles`. So for each kind (`kinds`, the paths of each) the caller states at
 * all, an empty one included, no stored claim any of its paths could be read from is kept; a
 * kind the caller does not state comes from `stored`. A kind an `authoritative` stored claim
 * decides comes from `stored` alone. Whether the caller states a kind is read from its claims as
 * given: a claim set aside for a decided kind may hold another kind too (roles and scopes in one
 * object), and the stored claims of that other kind must not then stand in for the caller's.
 */
function claimsOver(given: Claims, stored: Claims, kinds: readonly (readonly string[])[], statedKinds: readonly boolean[], authoritative: readonly string[]): Claims {
  const decided = kinds.filter((paths) => paths.some((path) => authoritative.some((key) => reaches(path, key))));
  const claims = authoritative.length === 0 ? given : withoutOverridden(given, decided.flat(), authoritative);
  const stated = kinds.filter((paths, kind) => !decided.includes(paths) && statedKinds[kind] === true).flat();
  if (stated.length === 0) return { ...stored, ...claims };
  // fromEntries and spread define properties: a stored `__proto__` stays a plain claim.
  const kept = Object.fromEntries(Object.entries(stored).filter(([key]) => !stated.some((path) => reaches(path, key))));
  return { ...kept, ...claims };
}

/**
 * The caller's claims less those `authoritative` stored claims replace: each one named, and every
 * claim a `decided` path (one of a kind any of whose paths reads a named one) reads. Stored `roles`
 * then take the caller's `role` away too, so the roles a directory revokes stay revoked (a
 * `suspended` role a deny rule names, roles cut back before the token expires).
 */
function withoutOverridden(claims: Claims, decided: readonly string[], authoritative: readonly string[]): Claims {
  return Object.fromEntries(Object.entries(claims).filter(([key]) => !authoritative.includes(key) && !decided.some((path) => reaches(path, key))));
}

/** The subject id a subject claim holds: `""`, which names no subject, unless a string that names something (see `namesSomething`). */
function subjectId(claimed: unknown): string {
  return typeof claimed === 'string' && namesSomething(claimed) ? claimed : '';
}

/** A subject's aliases until entity data names some: claims never state them. */
const noAliases: readonly string[] = Object.freeze([]);

/** A claim mapper for one mapping. Every claim stays available under `properties`. */
export function createClaimMapper(mapping: ClaimMapping): ClaimMapper {
  const prefixes = mapping.rolePrefixes;
  const subjectType = mapping.subjectType ?? defaultSubjectType;
  const kinds = [[mapping.subject], mapping.roles, mapping.scopes];
  return (given, type = subjectType, id, stored, authoritative = []) => {
    let claims = given;
    let subjectFrom = given;
    let rolesFrom = given;
    let scopesFrom = given;
    if (stored !== undefined) {
      // Whether the caller states each kind at all, an empty one included.
      const stated = kinds.map((paths) => paths.some((path) => claimAt(given, path) !== undefined));
      claims = claimsOver(given, stored, kinds, stated, authoritative);
      // A kind the caller states none of is read from the stored claims: merged key by key, a claim
      // of the caller's that the mapping does not read there (Keycloak's `resource_access` holding
      // another client's roles) would hide the stored one (`resource_access.invoice-api.roles`).
      const from = (kind: number) => (stated[kind] === true ? claims : stored);
      subjectFrom = from(0);
      rolesFrom = from(1);
      scopesFrom = from(2);
    }
    const sub = id ?? subjectId(claimAt(subjectFrom, mapping.subject));
    let roles = union(rolesFrom, mapping.roles);
    if (prefixes.length > 0) roles = new Set([...roles].map((r) => stripPrefix(r, prefixes)));
    return {
      type,
      id: sub,
      roles: [...roles],
      scopes: [...union(scopesFrom, mapping.scopes)],
      aliases: noAliases,
      properties: claims,
    };
  };
}

/**
 * A claim mapper choosing the mapping by the claims' `iss` (verified by then), falling back
 * to the default mapping: one PDP can serve Keycloak and Entra ID tokens side by side. Stored
 * claims never carry an `iss`: an issuer is what the caller's claims came from, so a stored one
 * would neither pick the mapping nor show in `properties` as if it were the caller's.
 */
export function issuerClaimMapper(fallback: ClaimMapping, byIssuer: ReadonlyMap<string, ClaimMapping>): ClaimMapper {
  const base = createClaimMapper(fallback);
  const mappers = new Map([...byIssuer].map(([issuer, mapping]) => [issuer, createClaimMapper(mapping)]));
  return (claims, type, id, stored, authoritative) => {
    const iss = claims['iss'];
    const mapper = typeof iss === 'string' ? mappers.get(iss) : undefined;
    return (mapper ?? base)(claims, type, id, stored === undefined || !Object.hasOwn(stored, 'iss') ? stored : withoutIssuer(stored), authoritative);
  };
}

function withoutIssuer(stored: Claims): Claims {
  return Object.fromEntries(Object.entries(stored).filter(([key]) => key !== 'iss'));
}

/**
 * Maps claims with the default mapping: id from `sub` (or the given id), roles from `roles`
 * and `role`, scopes from `scope` (space-separated) and `scp` (array or string).
 */
export const claimsToSubject: ClaimMapper = createClaimMapper(defaultClaimMapping);
