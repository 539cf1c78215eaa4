import type { Metric, Registry } from 'prom-client';

/** Label values of one series, by label name. */
export type Labels = Readonly<Record<string, string>>;

/** One exported sample, in the shape prom-client's registry formats and aggregates. */
interface Sample {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
  readonly metricName?: string;
}

/** What `get()` answers, as prom-client's own metrics do. */
interface Exported {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram';
  readonly aggregator: 'sum';
  readonly values: readonly Sample[];
}

/** One counter series; `inc` is a plain addition. */
export interface CounterSeries {
  inc(): void;
}

/** One histogram series; `observe` is a bucket search and two additions. */
export interface HistogramSeries {
  observe(value: number): void;
}

interface FamilyOptions {
  readonly name: string;
  readonly help: string;
  readonly registry: Registry;
}

/**
 * The part of prom-client's metric contract a registry reads: it calls `get()` for the text
 * format and for cluster aggregation (prom-client registers its own aggregated metrics the
 * same way, as plain objects with `get`).
 */
abstract class Family<S> {
  readonly name: string;
  readonly help: string;
  readonly aggregator = 'sum' as const;
  /** Series in creation order, which is the order they are exported in. */
  protected readonly series = new Map<string, { readonly labels: Labels; readonly state: S }>();

  constructor(options: FamilyOptions) {
    this.name = options.name;
    this.help = options.help;
    options.registry.registerMetric(this as unknown as Metric);
  }

  /** The state of the series with these labels, made at 0 on first use; `key` identifies them. */
  protected state(key: string, labels: Labels, fresh: () => S): S {
    let found = this.series.get(key);
    if (found === undefined) {
      found = { labels: { ...labels }, state: fresh() };
      this.series.set(key, found);
    }
    return found.state;
  }

  /**
   * Called by `registry.resetMetrics()`, as prom-client's own metrics are. Series are zeroed
   * in place rather than dropped: callers hold on to them.
   */
  reset(): void {
    for (const { state } of this.series.values()) this.zero(state);
  }

  protected abstract zero(state: S): void;
}

/**
 * A counter whose series are looked up once by the caller and then only added to, for metrics
 * counted on every request: prom-client's `inc` hashes and validates the labels on each call,
 * which cost ~20 times the addition. Exported exactly as a prom-client Counter.
 */
export class CounterFamily extends Family<{ value: number }> {
  readonly type = 'counter' as const;

  /** The series for `labels` (created at 0); hold on to it, and `inc` it per event. */
  labels(labels: Labels, key: string = labelKey(labels)): CounterSeries {
    const state = this.state(key, labels, () => ({ value: 0 }));
    return {
      inc: () => {
        state.value += 1;
      },
    };
  }

  protected zero(state: { value: number }): void {
    state.value = 0;
  }

  async get(): Promise<Exported> {
    const values = [...this.series.values()].map(({ labels, state }) => ({ labels, value: state.value }));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

interface Buckets {
  /** Observations per bucket (not cumulative); the last slot is above the highest bound. */
  readonly counts: number[];
  sum: number;
  count: number;
}

/** A histogram with the same per-series lookup as CounterFamily; exported as a prom-client Histogram. */
export class HistogramFamily extends Family<Buckets> {
  readonly type = 'histogram' as const;
  readonly #bounds: readonly number[];

  constructor(options: FamilyOptions & { readonly buckets: readonly number[] }) {
    super(options);
    this.#bounds = [...options.buckets].sort((a, b) => a - b);
  }

  /** The series for `labels` (created empty); hold on to it, and `observe` per event. */
  labels(labels: Labels, key: string = labelKey(labels)): HistogramSeries {
    const bounds = this.#bounds;
    const state = this.state(key, labels, () => ({ counts: new Array<number>(bounds.length + 1).fill(0), sum: 0, count: 0 }));
    return {
      observe: (value) => {
        let bucket = 0;
        while (bucket < bounds.length && value > (bounds[bucket] as number)) bucket += 1;
        state.counts[bucket] = (state.counts[bucket] ?? 0) + 1;
        state.sum += value;
        state.count += 1;
      },
    };
  }

  protected zero(state: Buckets): void {
    state.counts.fill(0);
    state.sum = 0;
    state.count = 0;
  }

  async get(): Promise<Exported> {
    const values: Sample[] = [];
    for (const { labels, state } of this.series.values()) {
      let cumulative = 0;
      this.#bounds.forEach((le, i) => {
        cumulative += state.counts[i] ?? 0;
        values.push({ labels: { le, ...labels }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', ...labels }, value: state.count, metricName: `${this.name}_bucket` });
      values.push({ labels, value: state.sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: state.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/** A key that tells label sets apart (values are joined in label-name order). */
function labelKey(labels: Labels): string {
  return Object.keys(labels).sort().map((k) => `${k}=${labels[k] ?? ''}`).join('\u0000');
}
