import { LRUCache } from 'lru-cache';
import { type CacheEntry, type CacheLayer, type CacheObserver, silentObserver } from './layer.js';

export interface MemoryLayerOptions {
  /** Most entries kept; the least recently used goes first. */
  readonly maxEntries: number;
  readonly observer?: CacheObserver;
}

/** The in-process layer: a bounded LRU whose entries expire with their TTL. */
export class MemoryCacheLayer implements CacheLayer {
  readonly name = 'memory';
  readonly #entries: LRUCache<string, CacheEntry>;
  readonly #observer: CacheObserver;

  constructor(options: MemoryLayerOptions) {
    if (!Number.isInteger(options.maxEntries) || options.maxEntries < 1) {
      throw new RangeError(`maxEntries must be a positive integer, got ${options.maxEntries}`);
    }
    this.#entries = new LRUCache({ max: options.maxEntries, ttl: 1, ttlAutopurge: false, allowStale: false });
    this.#observer = options.observer ?? silentObserver;
  }

  async get(key: string, now: number): Promise<CacheEntry | undefined> {
    const live = this.#live(key, now);
    this.#observer.cacheRequest('memory', live === undefined ? 'miss' : 'hit');
    return live;
  }

  async getMany(keys: readonly string[], now: number): Promise<(CacheEntry | undefined)[]> {
    return keys.map((key) => {
      const live = this.#live(key, now);
      // A hit is counted when its decision takes it (see CacheLayer.getMany).
      if (live === undefined) this.#observer.cacheRequest('memory', 'miss');
      return live;
    });
  }

  #live(key: string, now: number): CacheEntry | undefined {
    const entry = this.#entries.get(key);
    // lru-cache expires on its own clock; `now` is the decision's clock, which tests may freeze.
    return entry !== undefined && entry.expiresAt > now ? entry : undefined;
  }

  set(key: string, entry: CacheEntry, ttlMs: number): void {
    this.#entries.set(key, entry, { ttl: Math.max(1, Math.ceil(ttlMs)) });
  }
}
