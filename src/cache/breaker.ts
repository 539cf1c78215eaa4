export interface BreakerOptions {
  /** Pause after the first failure, ms. */
  readonly backoffMs: number;
  /** Longest pause; each failed probe doubles the pause up to this, ms. */
  readonly maxBackoffMs: number;
  /** Monotonic milliseconds. */
  readonly now?: () => number;
}

/**
 * A circuit breaker for a dependency the service can do without. Closed: calls go through.
 * A failure opens it: calls are refused for a back-off, then one probe is let through; its
 * success closes the breaker, its failure opens it again for twice as long.
 */
export class CircuitBreaker {
  readonly #backoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #now: () => number;
  #state: 'closed' | 'open' | 'probing' = 'closed';
  #retryAt = 0;
  #pause: number;

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

  /** Whether a call may go out now; after a back-off this admits exactly one probe. */
  allow(): boolean {
    if (this.#state === 'closed') return true;
    if (this.#state === 'open' && this.#now() >= this.#retryAt) {
      this.#state = 'probing';
      return true;
    }
    return false;
  }

  /** Records a call that worked. Returns true when this closed the breaker. */
  success(): boolean {
    // Only the probe may close it: a slow call begun before the failure proves nothing.
    if (this.#state !== 'probing') return false;
    this.#state = 'closed';
    this.#pause = this.#backoffMs;
    return true;
  }

  /** Records a call that failed. Returns true when this opened the breaker. */
  failure(): boolean {
    if (this.#state === 'open') return false;
    const wasClosed = this.#state === 'closed';
    if (!wasClosed) this.#pause = Math.min(this.#pause * 2, this.#maxBackoffMs);
    this.#state = 'open';
    this.#retryAt = this.#now() + this.#pause;
    return wasClosed;
  }
}
