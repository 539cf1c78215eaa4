import type { PolicyStore } from '../policy/store.js';

/** A subject or resource a search may return. */
export interface EntityRef {
  readonly type: string;
  readonly id: string;
}

/**
 * Where a search finds what to evaluate. Candidates come in ascending key order (the id, or
 * the action name) so a page can resume after the last key it returned. The entity data
 * source below is one implementation; a store of records we do not hold can be another.
 */
export interface CandidateSource {
  /** Entities of `type` whose id sorts after `after`. */
  entities(type: string, after: string | undefined): AsyncIterable<EntityRef>;
  /** Action names the policies for `resourceType` list, sorted, after `after`. */
  actions(resourceType: string, after: string | undefined): AsyncIterable<string>;
}

/** Index of the first key in `sorted` greater than `after`. */
function startAfter<T>(sorted: readonly T[], key: (item: T) => string, after: string | undefined): number {
  if (after === undefined) return 0;
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    const item = sorted[mid];
    if (item !== undefined && key(item) <= after) low = mid + 1;
    else high = mid;
  }
  return low;
}

async function* from<T, R>(sorted: readonly T[], start: number, map: (item: T) => R): AsyncIterable<R> {
  for (let i = start; i < sorted.length; i += 1) {
    const item = sorted[i];
    if (item !== undefined) yield map(item);
  }
}

/** Candidates from the policy set in force: entity data, and the actions its policies name. */
export function policySetCandidates(policies: PolicyStore): CandidateSource {
  return {
    entities(type, after) {
      const sorted = policies.current.set.entities.ofType(type);
      return from(sorted, startAfter(sorted, (e) => e.id, after), (e) => ({ type: e.type, id: e.id }));
    },
    actions(resourceType, after) {
      const sorted = policies.current.set.byResource.get(resourceType)?.sortedActions ?? [];
      return from(sorted, startAfter(sorted, (name) => name, after), (name) => name);
    },
  };
}
