import type { EntityIndex } from '../policy/entities.js';
import type { ClaimMapper } from '../token/claims.js';
import type { Query } from './types.js';

/**
 * Adds what entity data knows about the query's subject and resource. An entity is found by
 * type and id (or alias) and then *is* that entity: the id becomes the entity's own, so a rule
 * comparing ids and the cache key see one identity however the request named it, and the
 * subject's aliases become `subject.aliases`, so a rule comparing an owner a record holds (no
 * self-approval) can match it by any of the subject's names. Stored resource properties go over the request's own, key by
 * key: what we store about a record is authoritative, and a caller that could send `owner` would
 * otherwise choose who owns it; the request fills in only what is not stored. Stored subject
 * claims go under the caller's by `mapClaims`, the mapping the subject was first made with
 * (CLAIM_ROLES, role prefixes, per-issuer mappings): a kind of claim the caller
 * states at all (roles, scopes) comes from the caller alone, so entity data never widens a
 * narrowed token, unless the entity marks the stored claim `authoritative` (a role revoked in
 * the directory before the token expires). Unknown entities leave the query as is.
 */
export function withEntityData(entities: EntityIndex, query: Query, mapClaims: ClaimMapper): Query {
  if (entities.size === 0) return query;
  const { subject, resource } = query;
  const knownSubject = entities.find(subject.type, subject.id);
  const knownResource = resource.id === undefined ? undefined : entities.find(resource.type, resource.id);
  if (knownSubject === undefined && knownResource === undefined) return query;
  return {
    ...query,
    subject: knownSubject === undefined
      ? subject
      : { ...mapClaims(subject.properties, subject.type, knownSubject.id, knownSubject.properties, knownSubject.authoritative), aliases: knownSubject.aliases },
    resource: knownResource === undefined
      ? resource
      : { ...resource, id: knownResource.id, properties: { ...resource.properties, ...knownResource.properties } },
  };
}
