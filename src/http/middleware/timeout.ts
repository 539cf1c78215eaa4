import { ProblemError } from '../problem.js';

interface Pending {
  readonly due: number;
  readonly reject: (error: ProblemError) => void;
}

/**
 * Bounds how long a request may wait: `race(work, startedAt)` settles as `work` does, or
 * rejects with 503 problem `timeout` (with Retry-After) once `ms` have passed since `startedAt`
 * (requests race in the order they started). What the work produces afterwards
 * is dropped, so a slow dependency can delay an answer but never turn a late one into a permit
 * (and requestFrame marks the request's decisions abandoned, so none of them is recorded).
 * It bounds waiting on I/O only: synchronous work (policy evaluation) cannot be interrupted and
 * is bounded at load instead.
 *
 * One timer checks every pending request, every tenth of `ms` (at most every 100 ms), so a
 * request is answered within `ms` plus that tick; a timer and a race per request cost every
 * request a timer-list insertion and removal and two more promises. The timer runs only while
 * requests are pending and never keeps the process alive.
 */
export class RequestDeadlines {
  readonly #ms: number;
  readonly #tickMs: number;
  /** In the order they were added, which is the order they fall due: every deadline is `ms` long. */
  readonly #pending = new Set<Pending>();
  #timer: NodeJS.Timeout | undefined;

  constructor(ms: number) {
    if (!Number.isFinite(ms) || ms <= 0) throw new RangeError(`request timeout must be a positive number of ms, got ${ms}`);
    this.#ms = ms;
    this.#tickMs = Math.min(100, Math.max(1, ms / 10));
  }

  /** `startedAt`: when the request began, as `performance.now()` gave it. */
  race<T>(work: Promise<T>, startedAt: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = { due: startedAt + this.#ms, reject };
      this.#pending.add(pending);
      this.#timer ??= setInterval(() => this.#expire(), this.#tickMs).unref();
      work.then(
        (value) => {
          this.#pending.delete(pending);
          resolve(value);
        },
        (error: unknown) => {
          this.#pending.delete(pending);
          reject(error);
        },
      );
    });
  }

  #expire(): void {
    if (this.#pending.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    const now = performance.now();
    for (const pending of this.#pending) {
      if (pending.due > now) break;
      this.#pending.delete(pending);
      pending.reject(new ProblemError('timeout', `no answer within ${this.#ms} ms`, undefined, { 'retry-after': '1' }));
    }
  }
}
