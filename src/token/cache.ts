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

/**
 * From when claims are taken, epoch milliseconds: the later of `nbf` and `iat`, `toleranceSeconds`
 * before each, as a check refuses a token not yet valid or issued in the future; undefined when
 * neither is a number.
 */
export function validFromMs(claims: Claims, toleranceSeconds: number): number | undefined {
  let from: number | undefined;
  for (const claim of ['nbf', 'iat'] as const) {
    const time = claims[claim];
    if (typeof time === 'number' && Number.isFinite(time)) from = Math.max(from ?? Number.NEGATIVE_INFINITY, (time - toleranceSeconds) * 1000);
  }
  return from;
}

interface Entry<V> {
  readonly value: V;
  /** Before it (a clock stepped back), the entry is not returned (see EntryTimes.from). */
  readonly from: number;
  readonly expiresAt: number;
  /** The generation it was stored under (see ExpiringCacheOptions.generation). */
  readonly generation: number;
  /** The value's length as JSON, when the cache is bounded by it (ExpiringCacheOptions.maxJsonLength). */
  readonly length: number;
}

/**
 * Most characters of JSON the claims of a token cache hold together (see
 * ExpiringCacheOptions.maxJsonLength): 32 Mi, some 30,000 tokens of a kilobyte of claims, where
 * TOKEN_CACHE_ENTRIES alone let 10,000 introspection answers of 57 KB take 1.16 GB.
 */
export const maxTokenCacheJsonLength = 32 * 1024 * 1024;

/** When a stored value holds, epoch ms, by the clock a fresh check reads. */
export interface EntryTimes {
  /**
   * From when: until then, the clock having been stepped back since the value was checked (NTP, a
   * virtual machine's clock corrected), it is not returned, so the check is made again and refuses
   * what it would refuse uncached (a token whose `nbf` or `iat` is ahead again).
   */
  readonly from?: number;
  /** Until when; `maxTtlMs` from now at most. */
  readonly until?: number;
}

export interface ExpiringCacheOptions {
  readonly maxEntries: number;
  /** Longest an entry lives, milliseconds, whatever its own expiry says. */
  readonly maxTtlMs: number;
  readonly clock?: () => number;
  /**
   * A count that grows when what the entries were checked with no longer holds: for verified
   * tokens and signed introspection answers, the fetches of their key set that left out a key
   * held before (see RemoteKeySetOptions.onKeyRemoved). An entry stored under an earlier count
   * is not returned, so what was checked with a key now gone is checked again. Unset, it stays 0.
   */
  readonly generation?: () => number;
  /**
   * Most characters the values take together as JSON, least recently used dropped first; a
   * value longer than that alone is not stored. Unset, only `maxEntries` bounds the cache: the
   * size of a token's claims is the identity provider's to choose, up to the limits of a token or
   * an introspection answer.
   */
  readonly maxJsonLength?: number;
}

/**
 * `value`'s length as JSON, at least 1 (the LRU counts no entry as taking nothing); undefined
 * when JSON.stringify cannot write it, nested deeper than the stack holds: a token's claims, or
 * an introspection answer, thousands of levels deep, which the claims check after the cache
 * refuses as beyond the JSON limits, where the RangeError failed the check "unexpectedly".
 */
function lengthAsJson(value: object): number | undefined {
  try {
    return Math.max(1, JSON.stringify(value).length);
  } catch (error) {
    if (error instanceof RangeError) return undefined;
    throw error;
  }
}

/**
 * A bounded LRU whose entries hold from their own start until the earlier of their own deadline
 * and `maxTtlMs`, checked against an injectable clock on every read (the LRU's own TTL, counted in
 * elapsed time, only frees memory and bounds the age of an entry whatever the clock does), and
 * are set aside once the generation moves past the one they were stored under.
 */
export class ExpiringCache<V extends object> {
  readonly #lru: LRUCache<string, Entry<V>>;
  readonly #maxTtlMs: number;
  readonly #clock: () => number;
  readonly #generation: () => number;
  readonly #measured: boolean;

  constructor(options: ExpiringCacheOptions) {
    const maxSize = options.maxJsonLength;
    this.#lru = maxSize === undefined ? new LRUCache({ max: options.maxEntries }) : new LRUCache({ max: options.maxEntries, maxSize, sizeCalculation: (entry) => entry.length });
    this.#measured = maxSize !== undefined;
    this.#maxTtlMs = options.maxTtlMs;
    this.#clock = options.clock ?? Date.now;
    this.#generation = options.generation ?? (() => 0);
  }

  /**
   * The generation now. Read it before the check whose result `set` stores begins, and pass it
   * there: a key removal that overtakes the check then sets its result aside too.
   */
  generation(): number {
    return this.#generation();
  }

  get(key: string): V | undefined {
    const entry = this.#lru.get(key);
    if (entry === undefined) return undefined;
    const now = this.#clock();
    if (entry.from <= now && now < entry.expiresAt && entry.generation === this.#generation()) return entry.value;
    this.#lru.delete(key);
    return undefined;
  }

  /**
   * Stores for `times` (see EntryTimes), `maxTtlMs` from now at most, under `generation` (see
   * `generation()`); a value too deeply nested to measure (see `lengthAsJson`) is not stored.
   */
  set(key: string, value: V, times: EntryTimes = {}, generation = this.#generation()): void {
    const now = this.#clock();
    const expiresAt = Math.min(times.until ?? Number.POSITIVE_INFINITY, now + this.#maxTtlMs);
    const ttl = Math.floor(expiresAt - now);
    if (ttl < 1) return;
    const length = this.#measured ? lengthAsJson(value) : 1;
    if (length === undefined) return;
    this.#lru.set(key, { value, from: times.from ?? Number.NEGATIVE_INFINITY, expiresAt, generation, length }, { ttl });
  }
}
