export interface BreakerOptions {
  /** Pause after a failure, ms. */
  readonly backoffMs: number;
  /**
   * Longest pause, ms. Each failed probe doubles the pause up to this, and the pause goes back
   * to `backoffMs` only once the breaker has stayed closed this long.
   */
  readonly maxBackoffMs: number;
  /** Monotonic milliseconds. */
  readonly now?: () => number;
}

/**
 * A circuit breaker for a dependency the service can do without. Closed: calls go through.
 * A failure opens it: calls are refused for a pause, then one probe is let through; its
 * success closes the breaker, its failure opens it again for twice as long. A failure soon
 * after the breaker closed doubles the pause too: a dependency that answers the probe but
 * keeps failing other calls (refusing writes, one shard of several down) is then retried at
 * the longest pause, not opened and closed again after every shortest one.
 */
export class CircuitBreaker {
  readonly #backoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #now: () => number;
  #state: 'closed' | 'open' | 'probing' = 'closed';
  #retryAt = 0;
  #pause: number;
  /** When a probe last closed the breaker; never, at first. */
  #closedAt = Number.NEGATIVE_INFINITY;

  constructor(options: BreakerOptions) {
    this.#backoffMs = options.backoffMs;
    this.#maxBackoffMs = Math.max(options.backoffMs, options.maxBackoffMs);
    this.#now = options.now ?? (() => performance.now());
    this.#pause = this.#backoffMs;
  }

  /** True while calls flow normally. */
  get closed(): boolean {
    return this.#state === 'closed';
  }

  /** Ms until the probe is due (0 once it is) while the breaker is open; undefined otherwise. */
  msUntilProbe(): number | undefined {
    return this.#state === 'open' ? Math.max(0, this.#retryAt - this.#now()) : undefined;
  }

  /** Makes the probe due at once while the breaker is open: what failed may be gone (a new connection). */
  probeNow(): void {
    if (this.#state === 'open') this.#retryAt = this.#now();
  }

  /** Whether the probe may go out now: true once per pause, when it is over. */
  startProbe(): boolean {
    if (this.#state !== 'open' || this.#now() < this.#retryAt) return false;
    this.#state = 'probing';
    return true;
  }

  /**
   * Records a probe that ended with no verdict (it went over a connection being dropped of our
   * own doing): the breaker is open again, with the next probe due at once.
   */
  probeAbandoned(): void {
    if (this.#state !== 'probing') return;
    this.#state = 'open';
    this.#retryAt = this.#now();
  }

  /** Records a probe that worked. Returns true when this closed the breaker. */
  success(): boolean {
    // Only the probe may close it: a slow call begun before the failure proves nothing.
    if (this.#state !== 'probing') return false;
    this.#state = 'closed';
    this.#closedAt = this.#now();
    return true;
  }

  /** Records a call that failed. Returns true when this opened the breaker. */
  failure(): boolean {
    if (this.#state === 'open') return false;
    const now = this.#now();
    const wasClosed = this.#state === 'closed';
    const settled = wasClosed && now - this.#closedAt >= this.#maxBackoffMs;
    this.#pause = settled ? this.#backoffMs : Math.min(this.#pause * 2, this.#maxBackoffMs);
    this.#state = 'open';
    this.#retryAt = now + this.#pause;
    return wasClosed;
  }
}
