import type { Verdict } from '../decision/types.js';

/** Where a cached decision was found. */
export type CacheSource = 'memory' | 'redis';

/** A cached verdict and the moment (epoch ms) after which it must not be served. */
export interface CacheEntry {
  readonly verdict: Verdict;
  readonly expiresAt: number;
}

/**
 * One cache layer. Both methods are fail-soft: a layer that cannot answer reports a miss,
 * and a write it cannot make is dropped, so a broken layer never breaks a decision.
 */
export interface CacheLayer {
  readonly name: CacheSource;
  /** The entry under `key` if it is still live at `now` (epoch ms); never rejects. */
  get(key: string, now: number): Promise<CacheEntry | undefined>;
  /**
   * As `get` for each of `keys`, in their order, in one round trip, and a failure fails them all
   * (misses). Each miss and error is counted as one lookup; an entry found is not: it is counted
   * when its decision takes it, which may be after it expired (see LookedAhead). A layer that
   * decodes what it reads decodes each entry after `pause` (see pacer), so a hundred large ones
   * let the event loop turn. Never rejects.
   */
  getMany(keys: readonly string[], now: number, pause: () => Promise<void>): Promise<(CacheEntry | undefined)[]>;
  /** Stores `entry` for `ttlMs`; returns at once and never throws. */
  set(key: string, entry: CacheEntry, ttlMs: number): void;
}

/**
 * What one lookup found in a layer; `coalesced`: it joined an identical lookup already in
 * flight (single flight), counted under the layer lookups start at.
 */
export type CacheResult = 'hit' | 'miss' | 'error' | 'coalesced';

/**
 * How a write to Redis ended (the memory layer's cannot fail): `ok`, answered; `error`, failed
 * or unanswered within the deadline; `too_large`, beyond what a read takes back, so not sent.
 * Writes skipped while Redis is down or refusing writes, or while its connection is being
 * replaced, are not counted.
 */
export const cacheWriteResults = ['ok', 'error', 'too_large'] as const;

export type CacheWriteResult = (typeof cacheWriteResults)[number];

/** What the cache reports for metrics; implemented by telemetry, wired in main. */
export interface CacheObserver {
  /** One lookup in a layer (or one joining a lookup in flight). */
  cacheRequest(layer: CacheSource, result: CacheResult): void;
  /** One write to Redis; never counted as a lookup. */
  cacheWrite(layer: 'redis', result: CacheWriteResult): void;
  redisUp(up: boolean): void;
}

/** An observer that records nothing. */
export const silentObserver: CacheObserver = {
  cacheRequest() {},
  cacheWrite() {},
  redisUp() {},
};
