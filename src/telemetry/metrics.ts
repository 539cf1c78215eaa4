import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { decisionEndpoints, type DecisionEndpoint, type DecisionSource } from '../decision/record.js';
import type { Effect } from '../decision/types.js';

/**
 * Latency buckets, seconds. A decision takes microseconds (a cached answer) to a few
 * milliseconds (a remote token check), so they start at 50 µs; prom-client's defaults start at 5 ms.
 */
export const latencyBuckets: readonly number[] = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

const httpMethods = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** `method` label: the common methods as they are, anything else as OTHER. */
function methodLabel(method: string): string {
  return httpMethods.has(method) ? method : 'OTHER';
}

/**
 * Every metric the service exports, on a registry of its own (so tests can build many apps,
 * and node:cluster aggregation can take `registry`). Label values come from closed lists only.
 */
export class PdpMetrics {
  /** The registry to scrape; includes prom-client's default process metrics. */
  readonly registry = new Registry();

  readonly #decisions = new Counter({
    name: 'pdp_decisions_total',
    help: 'Decisions made, by answer, endpoint and where the answer came from.',
    labelNames: ['decision', 'endpoint', 'source'] as const,
    registers: [this.registry],
  });

  readonly #decisionDuration = new Histogram({
    name: 'pdp_decision_duration_seconds',
    help: 'Time to decide (token check, cache, evaluation), seconds.',
    labelNames: ['endpoint'] as const,
    buckets: [...latencyBuckets],
    registers: [this.registry],
  });

  readonly #cacheRequests = new Counter({
    name: 'pdp_cache_requests_total',
    help: 'Decision cache lookups, by layer and result.',
    labelNames: ['layer', 'result'] as const,
    registers: [this.registry],
  });

  readonly #tokenVerifications = new Counter({
    name: 'pdp_token_verifications_total',
    help: 'Token checks, by kind (jwt, introspection) and result.',
    labelNames: ['kind', 'result'] as const,
    registers: [this.registry],
  });

  readonly #policyReloads = new Counter({
    name: 'pdp_policy_reloads_total',
    help: 'Policy reload attempts, by result; a failed reload keeps the set in force.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly #policyInfo = new Gauge({
    name: 'pdp_policy_info',
    help: 'The policy version in force (value 1).',
    labelNames: ['version'] as const,
    registers: [this.registry],
  });

  readonly #policyRules = new Gauge({
    name: 'pdp_policy_rules',
    help: 'Rules in the policy set in force.',
    registers: [this.registry],
  });

  // Registered on the first report: with Redis disabled the series is absent rather than 0,
  // so an alert on `pdp_redis_up == 0` only fires where Redis is meant to be up.
  readonly #redisUp = new Gauge({
    name: 'pdp_redis_up',
    help: '1 while Redis answers, 0 while it does not; absent when Redis is disabled.',
    registers: [],
  });

  readonly #auditErrors = new Counter({
    name: 'pdp_audit_errors_total',
    help: 'Audit lines that could not be written (a failed write may hold several lines).',
    registers: [this.registry],
  });

  readonly #httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests, by method, route template and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  readonly #httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request handling time, by method and route template, seconds.',
    labelNames: ['method', 'route'] as const,
    buckets: [...latencyBuckets],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // Known label combinations start at 0, so dashboards and rate() see them before the first event.
    for (const endpoint of decisionEndpoints) {
      this.#decisionDuration.zero({ endpoint });
      for (const decision of ['permit', 'deny'] as const) {
        for (const source of ['evaluated', 'memory', 'redis'] as const) this.#decisions.inc({ decision, endpoint, source }, 0);
      }
    }
    for (const layer of ['memory', 'redis'] as const) {
      for (const result of ['hit', 'miss', 'error'] as const) this.#cacheRequests.inc({ layer, result }, 0);
    }
    for (const kind of ['jwt', 'introspection'] as const) {
      for (const result of ['valid', 'invalid', 'error'] as const) this.#tokenVerifications.inc({ kind, result }, 0);
    }
    for (const result of ['success', 'failure'] as const) this.#policyReloads.inc({ result }, 0);
  }

  /** One decision: its answer, which endpoint asked, where it came from, how long it took. */
  decision(endpoint: DecisionEndpoint | 'unspecified', decision: Effect, source: DecisionSource, seconds: number): void {
    this.#decisions.inc({ decision, endpoint, source });
    this.#decisionDuration.observe({ endpoint }, seconds);
  }

  /** One decision cache lookup. */
  cacheRequest(layer: 'memory' | 'redis', result: 'hit' | 'miss' | 'error'): void {
    this.#cacheRequests.inc({ layer, result });
  }

  /** Redis reachability as the cache last saw it. */
  redisUp(up: boolean): void {
    if (this.registry.getSingleMetric('pdp_redis_up') === undefined) this.registry.registerMetric(this.#redisUp);
    this.#redisUp.set(up ? 1 : 0);
  }

  /** One token check. */
  tokenVerification(kind: 'jwt' | 'introspection', result: 'valid' | 'invalid' | 'error'): void {
    this.#tokenVerifications.inc({ kind, result });
  }

  /** One policy reload attempt. */
  policyReload(result: 'success' | 'failure'): void {
    this.#policyReloads.inc({ result });
  }

  /** The set now in force: only its version carries `pdp_policy_info` 1. */
  policyLoaded(version: string, rules: number): void {
    this.#policyInfo.reset();
    this.#policyInfo.set({ version }, 1);
    this.#policyRules.set(rules);
  }

  /** An audit line (or a batch of them) lost. */
  auditError(): void {
    this.#auditErrors.inc();
  }

  /** One HTTP request; `route` is the matched route template, never the raw path. */
  httpRequest(method: string, route: string, status: number, seconds: number): void {
    const labels = { method: methodLabel(method), route };
    this.#httpRequests.inc({ ...labels, status: String(status) });
    this.#httpDuration.observe(labels, seconds);
  }
}
