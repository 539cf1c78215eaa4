import type { Counts } from './load-protocol.js';

/** One finished request. */
export interface Done {
  readonly start: number;
  readonly outcomes: readonly (keyof Counts)[];
  readonly kind: string;
  readonly status?: number;
  readonly latency?: number;
  /** The client-side error code when there was no answer (ECONNRESET, EPIPE, …). */
  readonly error?: string;
}

/** Interns strings as small numbers. */
class Labels<T> {
  readonly #index = new Map<string, number>();
  readonly #values: T[] = [];

  id(key: string, value: T): number {
    let id = this.#index.get(key);
    if (id === undefined) {
      id = this.#values.push(value) - 1;
      this.#index.set(key, id);
    }
    return id;
  }

  get(id: number): T {
    return this.#values[id] as T;
  }
}

const none = 0xffff;

/**
 * Every finished request of a run, kept in typed arrays rather than one object each: a
 * ten-minute soak records 600,000 of them, and as objects they made the load process's
 * garbage collector part of the latencies it measured.
 */
export class Ledger {
  #starts = new Float64Array(1 << 16);
  #latencies = new Float32Array(1 << 16);
  #fields = new Uint16Array(4 << 16);
  #size = 0;
  readonly #kinds = new Labels<string>();
  readonly #outcomes = new Labels<readonly (keyof Counts)[]>();
  readonly #errors = new Labels<string>();

  add(done: Done): void {
    if (this.#size === this.#starts.length) this.#grow();
    const i = this.#size++;
    this.#starts[i] = done.start;
    this.#latencies[i] = done.latency ?? Number.NaN;
    this.#fields.set(
      [
        this.#kinds.id(done.kind, done.kind),
        this.#outcomes.id(done.outcomes.join(','), done.outcomes),
        done.status ?? none,
        done.error === undefined ? none : this.#errors.id(done.error, done.error),
      ],
      i * 4,
    );
  }

  *entries(): Generator<Done> {
    for (let i = 0; i < this.#size; i++) {
      const [kind = 0, outcomes = 0, status = none, error = none] = this.#fields.subarray(i * 4, i * 4 + 4);
      const latency = this.#latencies[i] ?? Number.NaN;
      yield {
        start: this.#starts[i] ?? 0,
        kind: this.#kinds.get(kind),
        outcomes: this.#outcomes.get(outcomes),
        ...(status !== none && { status }),
        ...(!Number.isNaN(latency) && { latency }),
        ...(error !== none && { error: this.#errors.get(error) }),
      };
    }
  }

  #grow(): void {
    const starts = new Float64Array(this.#starts.length * 2);
    starts.set(this.#starts);
    const latencies = new Float32Array(this.#latencies.length * 2);
    latencies.set(this.#latencies);
    const fields = new Uint16Array(this.#fields.length * 2);
    fields.set(this.#fields);
    this.#starts = starts;
    this.#latencies = latencies;
    this.#fields = fields;
  }
}
