import type { Query, Turn, Verdict } from '../decision/types.js';
import { decisionKey } from './key.js';
import { silentObserver, type CacheEntry, type CacheLayer, type CacheObserver, type CacheSource } from './layer.js';

export interface DecisionCacheOptions {
  /** Looked up in order (memory first); a hit in a later layer refills the earlier ones. */
  readonly layers: readonly CacheLayer[];
  readonly prefix: string;
  /** Longest a decision is kept, seconds; a token's `exp` can only shorten it. */
  readonly ttlSeconds: number;
  /** Told of every lookup that joins one in flight; the layers report their own. */
  readonly observer?: CacheObserver;
}

/**
 * A decision and where it came from; `source` is absent when it was evaluated. A `coalesced`
 * one joined an identical lookup in flight and has that lookup's source.
 */
export interface CachedDecision {
  readonly verdict: Verdict;
  readonly source: CacheSource | undefined;
  readonly coalesced: boolean;
}

/** The answer of a lookup in flight, as one that joined it has it. */
function joined(decision: CachedDecision): CachedDecision {
  return { verdict: decision.verdict, source: decision.source, coalesced: true };
}

/**
 * Reasons whose verdicts are never cached: errors, and `entity_case_mismatch`, whose detail
 * quotes the subject's or resource's id as the request wrote it (an email a token's `sub` held),
 * which a shared cache must not hold.
 */
const uncacheable = new Set(['invalid_token', 'condition_error', 'limit_exceeded', 'entity_case_mismatch']);

/**
 * How long a decision about `query`'s subject may be kept from `now` (epoch ms), ms: at most
 * `maxTtlMs`, and 0 once the subject's `exp` (seconds since the epoch) is passed or when it is
 * not a number.
 */
function subjectTtlMs(query: Query, now: number, maxTtlMs: number): number {
  const exp = query.subject.properties['exp'];
  if (exp === undefined) return maxTtlMs;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return 0;
  return Math.max(0, Math.min(maxTtlMs, Math.floor(exp * 1000 - now)));
}

/** How long a verdict may be served again, ms; 0 when it must not be cached (see subjectTtlMs), or it carries an uncacheable reason. */
function cacheTtlMs(verdict: Verdict, query: Query, now: number, maxTtlMs: number): number {
  if (verdict.reasons.some((r) => 'code' in r && uncacheable.has(r.code))) return 0;
  return subjectTtlMs(query, now, maxTtlMs);
}

/** What a look-ahead found under a key: the entry and the index of the layer that held it. */
interface Found {
  readonly entry: CacheEntry;
  readonly layer: number;
}

/**
 * Keys looked up together ahead of their decisions (`DecisionCache.lookAhead`): what each was
 * found to be in the layers, undefined when none held it. The layers count a miss or an error
 * as they meet it; an entry found is counted once its decision takes it (`take`), a hit while it
 * is still live and a miss once it has expired, as that decision is then evaluated: it was found
 * live, and a page may decide its candidate long after. `release` counts those no decision took
 * (candidates past where a page stops) as the hits they were found to be.
 */
export class LookedAhead {
  readonly #found: Map<string, Found | undefined>;
  readonly #layers: readonly CacheLayer[];
  readonly #observer: CacheObserver;
  /** The keys whose entry found is not counted yet. */
  readonly #uncounted = new Set<string>();

  constructor(found: Map<string, Found | undefined>, layers: readonly CacheLayer[], observer: CacheObserver) {
    this.#found = found;
    this.#layers = layers;
    this.#observer = observer;
    for (const [key, at] of found) if (at !== undefined) this.#uncounted.add(key);
  }

  /** Whether `key` was looked up ahead: its decision then asks no layer. */
  has(key: string): boolean {
    return this.#found.has(key);
  }

  /** The entry found under `key` if it is still live at `now` (epoch ms), counted the first time it is taken. */
  take(key: string, now: number): Found | undefined {
    const found = this.#found.get(key);
    if (found === undefined) return undefined;
    const live = found.entry.expiresAt > now;
    if (this.#uncounted.delete(key)) this.#count(found, live ? 'hit' : 'miss');
    return live ? found : undefined;
  }

  /** Counts each entry found that no decision took as a hit; the look-ahead is done with. */
  release(): void {
    for (const key of this.#uncounted) {
      const found = this.#found.get(key);
      if (found !== undefined) this.#count(found, 'hit');
    }
    this.#uncounted.clear();
  }

  #count(found: Found, result: 'hit' | 'miss'): void {
    const layer = this.#layers[found.layer];
    if (layer !== undefined) this.#observer.cacheRequest(layer.name, result);
  }
}

/** A lookup in flight, which identical requests join rather than look up again. */
interface Flight {
  answer: Promise<CachedDecision> | undefined;
  /** For each request that joined it, whether its answer is still wanted. */
  readonly joiners: (() => boolean)[];
}

/**
 * The layered decision cache. Looks a query up layer by layer; on a miss evaluates once for
 * all identical concurrent requests (single flight) and stores the result in every layer.
 */
export class DecisionCache {
  readonly #layers: readonly CacheLayer[];
  readonly #prefix: string;
  readonly #maxTtlMs: number;
  readonly #observer: CacheObserver;
  /** The layer a lookup starts at, under which one that joins a lookup in flight is counted. */
  readonly #firstLayer: CacheSource;
  readonly #inFlight = new Map<string, Flight>();

  constructor(options: DecisionCacheOptions) {
    const first = options.layers[0];
    if (first === undefined) throw new RangeError('a decision cache needs at least one layer');
    this.#layers = options.layers;
    this.#prefix = options.prefix;
    this.#maxTtlMs = options.ttlSeconds * 1000;
    this.#observer = options.observer ?? silentObserver;
    this.#firstLayer = first.name;
  }

  /**
   * Whether `query` may be answered from the cache at `now` (epoch ms): not when its subject's
   * `exp` is passed or not a number. No decision about such a subject is ever stored, so a
   * lookup could only miss, or find what no replica wrote; it is evaluated every time instead.
   */
  serves(query: Query, now: number): boolean {
    return subjectTtlMs(query, now, this.#maxTtlMs) > 0;
  }

  /**
   * The verdict for `query` under `policyVersion`: cached, or from `evaluate`.
   * `now` (epoch ms) is the decision's clock, used for expiry. With `turn`, a miss evaluates in
   * it, so that decisions whose lookups ran together evaluate one at a time.
   * A turn that rejects (the request was given up) rejects the lookup, unless a request that
   * joined it still wants the answer: it then evaluates for it.
   */
  resolve(policyVersion: string, query: Query, now: number, evaluate: () => Verdict, turn?: Turn, ahead?: LookedAhead): Promise<CachedDecision> {
    const key = decisionKey(this.#prefix, policyVersion, query);
    const pending = this.#inFlight.get(key);
    if (pending?.answer !== undefined) {
      pending.joiners.push(turn === undefined ? () => true : () => turn.wanted());
      this.#observer.cacheRequest(this.#firstLayer, 'coalesced');
      return pending.answer.then(joined);
    }
    const flight: Flight = { answer: undefined, joiners: [] };
    flight.answer = this.#lookup(key, query, now, evaluate, turn, flight, ahead).finally(() => this.#forget(key, flight));
    this.#inFlight.set(key, flight);
    return flight.answer;
  }

  /**
   * Looks `queries` up ahead of their decisions, layer by layer (memory first, then the keys it
   * lacks in Redis), each layer in one round trip, for `resolve` to take what was found rather
   * than look each up on its own: a search page's candidates are looked up so. Their keys are
   * made one at a time, awaiting `pause` before each (see pacer): making one serialises its
   * query, a few ms for a record of 1 MiB, so a chunk of 100 made at once held the event loop
   * half a second. `now()` (epoch ms) is read once they are made. Once `stop()` holds after a
   * pause, no other key is made and no layer asked: undefined, and a decision made all the same
   * looks its own up.
   */
  async lookAhead(policyVersion: string, queries: readonly Query[], now: () => number, pause: () => Promise<void>, stop: () => boolean): Promise<LookedAhead | undefined> {
    const made = new Set<string>();
    for (const query of queries) {
      await pause();
      if (stop()) return undefined;
      made.add(decisionKey(this.#prefix, policyVersion, query));
    }
    const found = new Map<string, Found | undefined>();
    const liveAt = now();
    let keys = [...made];
    for (const [index, layer] of this.#layers.entries()) {
      if (keys.length === 0) break;
      const entries = await layer.getMany(keys, liveAt, pause);
      const missing: string[] = [];
      for (const [at, key] of keys.entries()) {
        const entry = entries[at];
        if (entry === undefined) missing.push(key);
        else found.set(key, { entry, layer: index });
      }
      keys = missing;
    }
    for (const key of keys) found.set(key, undefined);
    return new LookedAhead(found, this.#layers, this.#observer);
  }

  /** The entry found in layer `index`, copied into the layers before it. */
  #served(key: string, entry: CacheEntry, index: number, now: number): CachedDecision {
    // Never longer than this service caches: another replica's clock may run ahead.
    const ttlMs = Math.min(entry.expiresAt - now, this.#maxTtlMs);
    for (const earlier of this.#layers.slice(0, index)) earlier.set(key, { verdict: entry.verdict, expiresAt: now + ttlMs }, ttlMs);
    const layer = this.#layers[index];
    return { verdict: entry.verdict, source: layer?.name, coalesced: false };
  }

  #forget(key: string, flight: Flight): void {
    if (this.#inFlight.get(key) === flight) this.#inFlight.delete(key);
  }

  /**
   * `evaluate`d in `turn`. A turn refused (its request was given up) fails the lookup, unless a
   * request that joined it still wants the answer: it is then evaluated for that one.
   */
  async #inTurn(key: string, flight: Flight, turn: Turn, evaluate: () => Verdict): Promise<Verdict> {
    let refused = true;
    try {
      return await turn.run(() => {
        refused = false;
        return evaluate();
      });
    } catch (error) {
      if (!refused) throw error;
      // Gone before it fails, so that no request joins a lookup about to fail.
      if (!flight.joiners.some((wanted) => wanted())) {
        this.#forget(key, flight);
        throw error;
      }
      return evaluate();
    }
  }

  /** With `ahead` holding `key`, what was found ahead is taken (while still live at `now`), and no layer is asked. */
  async #lookup(key: string, query: Query, now: number, evaluate: () => Verdict, turn: Turn | undefined, flight: Flight, ahead: LookedAhead | undefined): Promise<CachedDecision> {
    if (ahead?.has(key) === true) {
      const found = ahead.take(key, now);
      if (found !== undefined) return this.#served(key, found.entry, found.layer, now);
    } else {
      for (const [index, layer] of this.#layers.entries()) {
        const entry = await layer.get(key, now);
        if (entry !== undefined) return this.#served(key, entry, index, now);
      }
    }
    const verdict = turn === undefined ? evaluate() : await this.#inTurn(key, flight, turn, evaluate);
    const ttlMs = cacheTtlMs(verdict, query, now, this.#maxTtlMs);
    if (ttlMs > 0) {
      const entry = { verdict, expiresAt: now + ttlMs };
      for (const layer of this.#layers) layer.set(key, entry, ttlMs);
    }
    return { verdict, source: undefined, coalesced: false };
  }
}
