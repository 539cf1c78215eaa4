import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Claims } from './claims.js';

/**
 * The cache key of a token: SHA-256 of the WHOLE compact token. Never the signature alone (two
 * tokens can share a signature segment yet differ in header or payload), never the raw token.
 */
export function tokenKey(token: string): string {
  // One-shot digest: a Hash object per token cost twice as much.
  return hash('sha256', token, 'base64url');
}

/** Seconds-since-epoch `exp` claim as epoch milliseconds, if present and numeric. */
export function expiryMs(claims: Claims): number | undefined {
  const exp = claims['exp'];
  return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
}

interface Entry<V> {
  readonly value: V;
  readonly expiresAt: number;
}

export interface ExpiringCacheOptions {
  readonly maxEntries: number;
  /** Longest an entry lives, milliseconds, whatever its own expiry says. */
  readonly maxTtlMs: number;
  readonly clock?: () => number;
}

/**
 * A bounded LRU whose entries expire at the earlier of their own deadline and `maxTtlMs`,
 * checked against an injectable clock on every read (the LRU's own TTL only frees memory).
 */
export class ExpiringCache<V extends object> {
  readonly #lru: LRUCache<string, Entry<V>>;
  readonly #maxTtlMs: number;
  readonly #clock: () => number;

  constructor(options: ExpiringCacheOptions) {
    this.#lru = new LRUCache({ max: options.maxEntries });
    this.#maxTtlMs = options.maxTtlMs;
    this.#clock = options.clock ?? Date.now;
  }

  get(key: string): V | undefined {
    const entry = this.#lru.get(key);
    if (entry === undefined) return undefined;
    if (this.#clock() < entry.expiresAt) return entry.value;
    this.#lru.delete(key);
    return undefined;
  }

  /** Stores until `deadline` (epoch ms) or `maxTtlMs` from now, whichever is first. */
  set(key: string, value: V, deadline = Number.POSITIVE_INFINITY): void {
    const now = this.#clock();
    const expiresAt = Math.min(deadline, now + this.#maxTtlMs);
    const ttl = Math.floor(expiresAt - now);
    if (ttl < 1) return;
    this.#lru.set(key, { value, expiresAt }, { ttl });
  }
}
