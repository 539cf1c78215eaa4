import type { EntityIndex } from '../policy/entities.js';
import type { ClaimMapper } from '../token/claims.js';
import type { Query } from './types.js';

/**
 * Adds what entity data knows about the query's subject and resource. An entity is found by
 * type and id (or alias); its stored properties go *under* the request's own, key by key, so
 * a caller's value always wins. Subject roles and scopes are derived again from the merged
 * properties by `mapClaims`, the mapping the subject was first made with (CLAIM_ROLES, role
 * prefixes, per-issuer mappings). The ids stay as the request gave them. Unknown entities
 * leave the query as is.
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
      : mapClaims({ ...knownSubject.properties, ...subject.properties }, subject.type, subject.id),
    resource: knownResource === undefined
      ? resource
      : { ...resource, properties: { ...knownResource.properties, ...resource.properties } },
  };
}
