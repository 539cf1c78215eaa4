import { ExpiringCache, type EntryTimes, type ExpiringCacheOptions } from './cache.js';
import type { IntrospectionResult } from './introspect.js';

export interface IntrospectionCacheOptions extends Omit<ExpiringCacheOptions, 'maxEntries'> {
  /** Active answers held at most. */
  readonly activeEntries: number;
  /** Inactive answers held at most, besides the active ones. */
  readonly inactiveEntries: number;
}

/**
 * The share of inactive answers: a tenth of the active ones, at least one. An inactive answer
 * spares a lookup only when its very token comes again (a client retrying a revoked token);
 * made-up tokens never come again, however many there are.
 */
export function inactiveEntriesFor(activeEntries: number): number {
  return Math.max(1, Math.ceil(activeEntries / 10));
}

/**
 * Introspection answers by token hash, active and inactive ones in two bounded LRUs. In one,
 * anyone could push out every active answer: made-up tokens, each answered inactive, as many as
 * it holds within its maximum age, and each real caller's token is then asked for again, the
 * authorization server taking their whole load. Apart, inactive answers only push out each other.
 */
export class IntrospectionCache {
  readonly #active: ExpiringCache<IntrospectionResult>;
  readonly #inactive: ExpiringCache<IntrospectionResult>;

  constructor(options: IntrospectionCacheOptions) {
    const { activeEntries, inactiveEntries, ...shared } = options;
    this.#active = new ExpiringCache({ ...shared, maxEntries: activeEntries });
    this.#inactive = new ExpiringCache({ ...shared, maxEntries: inactiveEntries });
  }

  /** See ExpiringCache.generation: both hold their answers under the same one. */
  generation(): number {
    return this.#active.generation();
  }

  /** A token's answer is in one of the two at most: it is looked up, and stored, only when neither holds one. */
  get(key: string): IntrospectionResult | undefined {
    return this.#active.get(key) ?? this.#inactive.get(key);
  }

  /** See ExpiringCache.set. */
  set(key: string, result: IntrospectionResult, times?: EntryTimes, generation?: number): void {
    (result.active ? this.#active : this.#inactive).set(key, result, times, generation);
  }
}
