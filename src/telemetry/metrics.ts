import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { cacheWriteResults, type CacheResult, type CacheWriteResult } from '../cache/layer.js';
import { decisionEndpoints, decisionSources, type DecisionEndpoint, type DecisionSource } from '../decision/record.js';
import type { Effect } from '../decision/types.js';
import { CounterFamily, HistogramFamily, type CounterSeries, type HistogramSeries } from './families.js';

/**
 * Latency buckets, seconds. A decision takes microseconds (a cached answer) to a few
 * milliseconds (a remote token check), so they start at 50 µs; prom-client's defaults start at 5 ms.
 * They end at REQUEST_TIMEOUT_MS's greatest value (120 s): a request slowed by a slow key server,
 * introspection or client is what an incident is about, and one past the last bound is counted
 * in `+Inf` alone, where no quantile can be read from it.
 */
export const latencyBuckets: readonly number[] = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
];

const httpMethods = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** `method` label: the common methods as they are, anything else as OTHER. */
function methodLabel(method: string): string {
  return httpMethods.has(method) ? method : 'OTHER';
}

/**
 * `pdp_policy_last_reload_successful` on `registry`: a worker's (PdpMetrics), and under
 * node:cluster the primary's own (cluster-metrics.ts), which reads 0 while a worker's start is
 * retried because the policy files do not load. 'min' over them: 0 as soon as one worker serves
 * an older set than its files on disk, or the primary has one refused.
 */
export function lastReloadSuccessfulGauge(registry: Registry): Gauge {
  return new Gauge({
    name: 'pdp_policy_last_reload_successful',
    help: '1 when the last policy load or reload succeeded, 0 while the files on disk are refused and an older set serves.',
    aggregator: 'min',
    registers: [registry],
  });
}

/**
 * Every metric the service exports, on a registry of its own (so tests can build many apps,
 * and node:cluster aggregation can take `registry`). Label values come from closed lists only.
 */
export class PdpMetrics {
  /** The registry to scrape; includes prom-client's default process metrics. */
  readonly registry = new Registry();

  // Counted on every request: series are looked up once per label set and then only added
  // to (families.ts), where prom-client's Counter and Histogram hash the labels on each call.
  readonly #decisions = new CounterFamily({
    name: 'pdp_decisions_total',
    help: 'Decisions made, by answer, endpoint and where the answer came from.',
    registry: this.registry,
  });

  readonly #decisionDuration = new HistogramFamily({
    name: 'pdp_decision_duration_seconds',
    help: 'Time to decide (token check, cache, evaluation), seconds.',
    buckets: latencyBuckets,
    registry: this.registry,
  });

  readonly #cacheRequests = new CounterFamily({
    name: 'pdp_cache_requests_total',
    help: 'Decision cache lookups, by layer and result.',
    registry: this.registry,
  });

  readonly #cacheWrites = new CounterFamily({
    name: 'pdp_cache_writes_total',
    help: 'Decision cache writes to Redis, by result: ok, error (failed or timed out), too_large (not sent).',
    registry: this.registry,
  });

  readonly #tokenVerifications = new CounterFamily({
    name: 'pdp_token_verifications_total',
    help: 'Token checks, by kind (jwt, introspection) and result.',
    registry: this.registry,
  });

  readonly #policyReloads = new Counter({
    name: 'pdp_policy_reloads_total',
    help: 'Policy reload attempts, by result; a failed reload keeps the set in force.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  // Gauges say how they combine over node:cluster workers (WORKERS>1; counters and histograms
  // are summed): a state is the same in every worker, so summing it would count workers.
  // 'max' per label set: 1 for each version some worker has in force (two during a reload).
  readonly #policyInfo = new Gauge({
    name: 'pdp_policy_info',
    help: 'The policy version in force (value 1).',
    labelNames: ['version'] as const,
    aggregator: 'max',
    registers: [this.registry],
  });

  readonly #policyRules = new Gauge({
    name: 'pdp_policy_rules',
    help: 'Rules in the policy set in force.',
    aggregator: 'max',
    registers: [this.registry],
  });

  readonly #policyReloadSuccessful = lastReloadSuccessfulGauge(this.registry);

  // Registered on the first report: with Redis disabled the series is absent rather than 0,
  // so an alert on `pdp_redis_up == 0` only fires where Redis is meant to be up. 'min': 0 as
  // soon as one worker has lost Redis.
  readonly #redisUp = new Gauge({
    name: 'pdp_redis_up',
    help: '1 while Redis answers (in every worker), 0 while it does not; absent when Redis is disabled.',
    aggregator: 'min',
    registers: [],
  });

  readonly #auditErrors = new Counter({
    name: 'pdp_audit_errors_total',
    help: 'Audit lines lost: not written, or dropped beyond the buffer bound.',
    registers: [this.registry],
  });

  readonly #httpRequests = new CounterFamily({
    name: 'http_requests_total',
    help: 'HTTP requests, by method, route template and status.',
    registry: this.registry,
  });

  readonly #httpDuration = new HistogramFamily({
    name: 'http_request_duration_seconds',
    help: 'HTTP request handling time, by method and route template, seconds.',
    buckets: latencyBuckets,
    registry: this.registry,
  });

  readonly #rejectedRequests = new CounterFamily({
    name: 'pdp_requests_rejected_total',
    help: 'Requests answered with a problem (RFC 9457), by its type: limits, bad input, keys, timeouts.',
    registry: this.registry,
  });

  /** Series by their label values joined with spaces, found without building label objects. */
  readonly #decisionSeries = new Map<string, { readonly count: CounterSeries; readonly duration: HistogramSeries }>();
  readonly #cacheSeries = new Map<string, CounterSeries>();
  readonly #cacheWriteSeries = new Map<string, CounterSeries>();
  readonly #tokenSeries = new Map<string, CounterSeries>();
  readonly #httpCounts = new Map<string, CounterSeries>();
  readonly #httpDurations = new Map<string, HistogramSeries>();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // Known label combinations start at 0, so dashboards and rate() see them before the first event.
    for (const endpoint of decisionEndpoints) {
      const duration = this.#decisionDuration.labels({ endpoint });
      for (const decision of ['permit', 'deny'] as const) {
        for (const source of decisionSources) {
          this.#decisionSeries.set(`${endpoint} ${decision} ${source}`, { count: this.#decisions.labels({ decision, endpoint, source }), duration });
        }
      }
    }
    for (const layer of ['memory', 'redis'] as const) {
      for (const result of ['hit', 'miss', 'error', 'coalesced'] as const) this.#cacheSeries.set(`${layer} ${result}`, this.#cacheRequests.labels({ layer, result }));
    }
    for (const result of cacheWriteResults) this.#cacheWriteSeries.set(`redis ${result}`, this.#cacheWrites.labels({ layer: 'redis', result }));
    for (const kind of ['jwt', 'introspection'] as const) {
      for (const result of ['valid', 'invalid', 'error'] as const) this.#tokenSeries.set(`${kind} ${result}`, this.#tokenVerifications.labels({ kind, result }));
    }
    for (const result of ['success', 'failure'] as const) this.#policyReloads.inc({ result }, 0);
  }

  /** One decision: its answer, which endpoint asked, where it came from, how long it took. */
  decision(endpoint: DecisionEndpoint | 'unspecified', decision: Effect, source: DecisionSource, seconds: number): void {
    const key = `${endpoint} ${decision} ${source}`;
    let series = this.#decisionSeries.get(key);
    if (series === undefined) {
      series = { count: this.#decisions.labels({ decision, endpoint, source }), duration: this.#decisionDuration.labels({ endpoint }) };
      this.#decisionSeries.set(key, series);
    }
    series.count.inc();
    series.duration.observe(seconds);
  }

  /** One decision cache lookup. */
  cacheRequest(layer: 'memory' | 'redis', result: CacheResult): void {
    this.#cacheSeries.get(`${layer} ${result}`)?.inc();
  }

  /** One decision cache write to Redis (lookups are counted apart, by cacheRequest). */
  cacheWrite(layer: 'redis', result: CacheWriteResult): void {
    this.#cacheWriteSeries.get(`${layer} ${result}`)?.inc();
  }

  /** Redis reachability as the cache last saw it. */
  redisUp(up: boolean): void {
    if (this.registry.getSingleMetric('pdp_redis_up') === undefined) this.registry.registerMetric(this.#redisUp);
    this.#redisUp.set(up ? 1 : 0);
  }

  /** One token check. */
  tokenVerification(kind: 'jwt' | 'introspection', result: 'valid' | 'invalid' | 'error'): void {
    this.#tokenSeries.get(`${kind} ${result}`)?.inc();
  }

  /** One policy reload attempt. */
  policyReload(result: 'success' | 'failure'): void {
    this.#policyReloads.inc({ result });
    this.#policyReloadSuccessful.set(result === 'success' ? 1 : 0);
  }

  /** The set now in force: only its version carries `pdp_policy_info` 1. */
  policyLoaded(version: string, rules: number): void {
    this.#policyReloadSuccessful.set(1);
    this.#policyInfo.reset();
    this.#policyInfo.set({ version }, 1);
    this.#policyRules.set(rules);
  }

  /** An audit line (or a batch of them) lost. */
  auditError(): void {
    this.#auditErrors.inc();
  }

  /**
   * The series counting requests rejected for `reason` (a problem type), at 0 until the first;
   * look it up once per reason and `inc` it per rejection.
   */
  rejectedRequests(reason: string): CounterSeries {
    return this.#rejectedRequests.labels({ reason }, reason);
  }

  /** One HTTP request; `route` is the matched route template, never the raw path. */
  httpRequest(method: string, route: string, status: number, seconds: number): void {
    const label = methodLabel(method);
    const series = `${label} ${route}`;
    let duration = this.#httpDurations.get(series);
    if (duration === undefined) {
      duration = this.#httpDuration.labels({ method: label, route });
      this.#httpDurations.set(series, duration);
    }
    duration.observe(seconds);
    const key = `${series} ${status}`;
    let count = this.#httpCounts.get(key);
    if (count === undefined) {
      count = this.#httpRequests.labels({ method: label, route, status: String(status) });
      this.#httpCounts.set(key, count);
    }
    count.inc();
  }
}
