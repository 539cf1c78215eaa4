import type { EntityIndex } from '../policy/entities.js';
import type { ClaimMapper } from '../token/claims.js';
import type { Query, Resource, Subject } from './types.js';

/**
 * Why `type` and `id`, which name no entity, are not taken for an unknown one: they name a stored
 * entity with case, accents, whitespace or invisible characters set aside. A backend comparing
 * ids loosely (`INV-7` for the stored `inv-7`, `inv-7 ` as SQL compares it) means that record,
 * whose stored `owner` and `status` would then be replaced by the caller's; a backend comparing
 * them exactly means another record, which the stored one's properties would misdescribe. Entity
 * data cannot tell which, so the question is denied, as an action named in another case is.
 */
function misnaming(entities: EntityIndex, type: string, id: string, fix: string): string | undefined {
  const meant = entities.misnamed(type, id);
  return meant === undefined ? undefined : `"${id}" of type "${type}" names no entity, but differs from the ${meant.type} "${meant.name}" only in case or spelling: ${fix}`;
}

/** What to do about a misnamed resource: its caller names it. */
const fixResource = 'send the name as entity data holds it';

/**
 * What to do about a misnamed subject: a token's is named by its claims and its issuer's type,
 * which its caller cannot change, so entity data is what to correct for it.
 */
const fixSubject = `${fixResource} or, for a subject whose name the caller cannot change (a token's), write it in entity data as requests send it`;

/**
 * Subjects and resources as enriched, by the one each was enriched from, for the decisions of one
 * answer made of several: its items or candidates sharing a known subject or resource then
 * share it enriched, so it is keyed for the cache (cache/key.ts) and ordered for conditions
 * (policy/cel.ts) once, not once per decision.
 */
export interface EnrichedEntities {
  readonly subjects: Map<Subject, Subject>;
  readonly resources: Map<Resource, Resource>;
}

/** `make()`, made once per `from` into `made` when there is one. */
function once<T>(made: Map<T, T> | undefined, from: T, make: () => T): T {
  let enriched = made?.get(from);
  if (enriched === undefined) {
    enriched = make();
    made?.set(from, enriched);
  }
  return enriched;
}

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
 * the directory before the token expires). Unknown entities leave the query as is, unless one
 * names a known entity in another case or spelling (`misnamed`, see `misnaming`): the question
 * is then denied, and the other, when it names an entity exactly, is still enriched, so explain
 * and the audit line show the subject entity data describes, its stored roles held, as they do
 * for any question denied before a rule is read. With `shared`,
 * a subject or resource enriched there before is taken as it was.
 */
export function withEntityData(entities: EntityIndex, query: Query, mapClaims: ClaimMapper, shared?: EnrichedEntities): Query {
  if (entities.size === 0) return query;
  const { subject, resource } = query;
  const knownSubject = entities.find(subject.type, subject.id);
  const knownResource = resource.id === undefined ? undefined : entities.find(resource.type, resource.id);
  const misnamed = (knownSubject === undefined ? misnaming(entities, subject.type, subject.id, fixSubject) : undefined)
    ?? (knownResource === undefined && resource.id !== undefined ? misnaming(entities, resource.type, resource.id, fixResource) : undefined);
  if (knownSubject === undefined && knownResource === undefined) return misnamed === undefined ? query : { ...query, misnamed };
  const enriched = {
    ...query,
    subject: knownSubject === undefined
      ? subject
      : once(shared?.subjects, subject, () => ({ ...mapClaims(subject.properties, subject.type, knownSubject.id, knownSubject.properties, knownSubject.authoritative), aliases: knownSubject.aliases })),
    resource: knownResource === undefined
      ? resource
      : once(shared?.resources, resource, () => ({ ...resource, id: knownResource.id, properties: { ...resource.properties, ...knownResource.properties } })),
  };
  // Only a misnamed question carries the member: the others keep the shape they always had.
  return misnamed === undefined ? enriched : { ...enriched, misnamed };
}
