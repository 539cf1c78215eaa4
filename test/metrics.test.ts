import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DecisionOutcome } from '../src/decision/service.js';
import { loadConfig } from '../src/config.js';
import { countRejections } from '../src/http/rejections.js';
import { createLogger } from '../src/logger.js';
import { createService, type Service } from '../src/service.js';
import type { MetricsSource } from '../src/telemetry/cluster-metrics.js';
import { PdpMetrics } from '../src/telemetry/metrics.js';
import { telemetryRecorder } from '../src/telemetry/recorder.js';
import { postJson, readJson } from './helpers/app.js';
import { docPolicy, tempDir, writeFiles } from './helpers/policy-dir.js';
import { auditEntries, buildObservedApp, labelValues, sample, scrape } from './helpers/telemetry.js';

type Observed = Awaited<ReturnType<typeof buildObservedApp>>;

const accountant = { id: 'u-acc', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } };
const readEU = { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'EU' } };
const readUS = { type: 'invoice', id: 'inv-2', properties: { invoice_type: 'purchase', region: 'US' } };

describe('GET /metrics', () => {
  let observed: Observed;
  beforeAll(async () => {
    observed = await buildObservedApp();
  });

  it('serves the Prometheus text format with the process metrics', async () => {
    const res = await observed.app.request('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toContain('# TYPE process_cpu_user_seconds_total counter');
    expect(text).toContain('# TYPE nodejs_eventloop_lag_seconds gauge');
  });

  it('lists every service metric, the bounded label sets already at 0', async () => {
    const text = await scrape(observed.app);
    for (const name of [
      'pdp_decisions_total', 'pdp_decision_duration_seconds', 'pdp_cache_requests_total', 'pdp_token_verifications_total',
      'pdp_policy_reloads_total', 'pdp_policy_last_reload_successful', 'pdp_policy_info', 'pdp_policy_rules', 'pdp_audit_errors_total',
      'http_requests_total', 'http_request_duration_seconds', 'pdp_requests_rejected_total',
    ]) {
      expect(text, name).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
    }
    expect(sample(text, 'pdp_decisions_total', { decision: 'deny', endpoint: 'authzen_search', source: 'redis' })).toBe(0);
    expect(sample(text, 'pdp_cache_requests_total', { layer: 'redis', result: 'error' })).toBe(0);
    expect(sample(text, 'pdp_token_verifications_total', { kind: 'introspection', result: 'invalid' })).toBe(0);
    expect(sample(text, 'pdp_policy_reloads_total', { result: 'failure' })).toBe(0);
  });

  it('counts decisions by answer, endpoint and source, and times them from 50 µs', async () => {
    const before = await scrape(observed.app);
    const permit = { decision: 'permit', endpoint: 'decide', source: 'evaluated' };
    const deny = { decision: 'deny', endpoint: 'decide', source: 'evaluated' };
    await postJson(observed.app, '/decide', { subject: accountant, action: 'read', resource: readEU });
    await postJson(observed.app, '/decide', { subject: accountant, action: 'read', resource: readEU });
    await postJson(observed.app, '/decide', { subject: accountant, action: 'read', resource: readUS });
    const after = await scrape(observed.app);

    expect((sample(after, 'pdp_decisions_total', permit) ?? 0) - (sample(before, 'pdp_decisions_total', permit) ?? 0)).toBe(2);
    expect((sample(after, 'pdp_decisions_total', deny) ?? 0) - (sample(before, 'pdp_decisions_total', deny) ?? 0)).toBe(1);
    const count = (text: string) => sample(text, 'pdp_decision_duration_seconds_count', { endpoint: 'decide' }) ?? 0;
    expect(count(after) - count(before)).toBe(3);
    // As README promises: buckets 50 µs … 120 s, the smallest bound first.
    const bounds = [...labelValues(after, 'pdp_decision_duration_seconds_bucket', 'le')];
    expect(bounds.slice(0, 2)).toEqual(['0.00005', '0.0001']);
    expect(bounds.slice(-2)).toEqual(['120', '+Inf']);
  });

  it('counts HTTP requests by route template and status, never by raw path', async () => {
    const before = await scrape(observed.app);
    await postJson(observed.app, '/decide', { subject: accountant, action: 'read', resource: readEU });
    await postJson(observed.app, '/decide', '{not json');
    await observed.app.request('/decide', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' });
    await observed.app.request('/invoices/inv-123/secret-path');
    await observed.app.request('/decide/../../etc/passwd');
    await observed.app.request('/decide', { method: 'PROPFIND' });
    const after = await scrape(observed.app);

    const delta = (labels: Record<string, string>) =>
      (sample(after, 'http_requests_total', labels) ?? 0) - (sample(before, 'http_requests_total', labels) ?? 0);
    expect(delta({ method: 'POST', route: '/decide', status: '200' })).toBe(1);
    expect(delta({ method: 'POST', route: '/decide', status: '400' })).toBe(1);
    expect(delta({ method: 'POST', route: '/decide', status: '415' })).toBe(1);
    expect(delta({ method: 'GET', route: 'unmatched', status: '404' })).toBe(2);
    // A path served for other methods: 405, and still no raw path in a label.
    expect(delta({ method: 'OTHER', route: 'unmatched', status: '405' })).toBe(1);
    expect(sample(after, 'http_request_duration_seconds_count', { method: 'POST', route: '/decide' })).toBeGreaterThanOrEqual(3);
    expect(labelValues(after, 'http_requests_total', 'route')).toEqual(new Set(['/decide', '/metrics', 'unmatched']));
  });

  it('times a request slower than 2.5 s in a bucket of its own, not in +Inf alone', async () => {
    const slow = await buildObservedApp();
    const body = new TextEncoder().encode(JSON.stringify({ subject: accountant, action: 'read', resource: readEU }));
    // The body arrives 2.6 s after the service first reads it, as from a slow client: pulled only
    // when read (no queue to fill ahead). Delayed from the stream's making, a busy host's wait
    // before the request began (a build, the event loop) once left it under 2.5 s.
    const stream = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          await new Promise((r) => setTimeout(r, 2_600));
          controller.enqueue(body);
          controller.close();
        },
      },
      { highWaterMark: 0 },
    );
    const res = await slow.app.request('/decide', { method: 'POST', headers: { 'content-type': 'application/json' }, body: stream, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(200);
    const text = await scrape(slow.app);
    const bucket = (le: string) => sample(text, 'http_request_duration_seconds_bucket', { method: 'POST', route: '/decide', le });
    expect([bucket('2.5'), bucket('5'), bucket('+Inf')]).toEqual([0, 1, 1]);
    expect(sample(text, 'http_request_duration_seconds_bucket', { method: 'POST', route: '/decide', le: '120' })).toBe(1);
  });

  it('times each item of a batch by its own deciding, not by its wait for the items evaluated before it', async () => {
    const batch = await buildObservedApp();
    const evaluations = Array.from({ length: 100 }, (_, i) => ({ resource: { ...readEU, id: `inv-${i}` } }));
    for (const semantic of ['execute_all', 'deny_on_first_deny']) {
      const res = await postJson(batch.app, '/access/v1/evaluations', { subject: { type: 'user', ...accountant }, action: { name: 'read' }, options: { evaluations_semantic: semantic }, evaluations });
      expect(res.status).toBe(200);
    }
    const text = await scrape(batch.app);
    expect(sample(text, 'pdp_decision_duration_seconds_count', { endpoint: 'authzen_evaluations' })).toBe(200);
    // The items are evaluated one at a time, on one thread, within their requests: the time
    // spent deciding them cannot exceed the time the requests took.
    const deciding = sample(text, 'pdp_decision_duration_seconds_sum', { endpoint: 'authzen_evaluations' }) ?? Infinity;
    const answering = sample(text, 'http_request_duration_seconds_sum', { method: 'POST', route: '/access/v1/evaluations' }) ?? 0;
    expect(deciding).toBeLessThan(answering);
  });

  it('times an invalid batch item by its own validating and denying, in the histogram and the audit line alike', async () => {
    const observed = await buildObservedApp();
    // Its context is validated in full before its action is found to be no action.
    const context = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`key-${String(i)}`, { region: 'EU', amount: i }]));
    const res = await postJson(observed.app, '/access/v1/evaluations', { subject: { type: 'user', ...accountant }, evaluations: [{ action: { name: 5 }, resource: readEU, context }] });
    expect(await readJson(res)).toEqual({ evaluations: [{ decision: false }] });
    const [entry] = await auditEntries(observed.sink);
    expect(entry).toMatchObject({ endpoint: 'authzen_evaluations', decision: 'deny', reasons: [{ code: 'invalid_request' }] });
    const latencyMs = Number(entry?.latencyMs);
    expect(latencyMs).toBeGreaterThan(0);
    const text = await scrape(observed.app);
    expect(sample(text, 'pdp_decision_duration_seconds_count', { endpoint: 'authzen_evaluations' })).toBe(1);
    const seconds = sample(text, 'pdp_decision_duration_seconds_sum', { endpoint: 'authzen_evaluations' }) ?? 0;
    // The audit line rounds to the microsecond.
    expect(Math.abs(seconds * 1000 - latencyMs)).toBeLessThanOrEqual(0.001);
  });

  it('names the route a request was sent to when middleware answers early (413)', async () => {
    const small = await buildObservedApp({ app: { maxBodyBytes: 1024 } });
    const res = await postJson(small.app, '/decide', { subject: accountant, action: 'read', resource: readEU, context: { pad: 'x'.repeat(2000) } });
    expect(res.status).toBe(413);
    expect(sample(await scrape(small.app), 'http_requests_total', { method: 'POST', route: '/decide', status: '413' })).toBe(1);
  });

  it('keeps every label value within its closed list, whatever requests carry', async () => {
    for (let i = 0; i < 20; i += 1) {
      await postJson(observed.app, `/decide?n=${i}`, { subject: { id: `user-${i}` }, action: `act-${i}`, resource: { type: `type-${i}`, id: `id-${i}` } });
      await observed.app.request(`/unknown-${i}`, { method: i % 2 === 0 ? 'GET' : 'DELETE' });
    }
    const text = await scrape(observed.app);
    expect(labelValues(text, 'pdp_decisions_total', 'endpoint')).toEqual(new Set(['decide', 'authzen_evaluation', 'authzen_evaluations', 'authzen_search']));
    expect(labelValues(text, 'pdp_decisions_total', 'decision')).toEqual(new Set(['permit', 'deny']));
    expect(labelValues(text, 'pdp_decisions_total', 'source')).toEqual(new Set(['evaluated', 'memory', 'redis', 'coalesced']));
    expect(labelValues(text, 'http_requests_total', 'method')).toEqual(new Set(['GET', 'POST', 'DELETE', 'OTHER']));
    expect(text).not.toMatch(/user-\d|act-\d|type-\d|id-\d|unknown-\d/);
  });
});

describe('metrics fed by the other modules', () => {
  it('move when cache, token, Redis and policy events are reported', async () => {
    const metrics = new PdpMetrics();
    const text0 = await metrics.registry.metrics();
    expect(text0).not.toContain('pdp_redis_up');

    metrics.cacheRequest('memory', 'hit');
    metrics.cacheRequest('memory', 'hit');
    metrics.cacheRequest('redis', 'error');
    metrics.tokenVerification('jwt', 'valid');
    metrics.tokenVerification('introspection', 'error');
    metrics.policyReload('failure');
    metrics.redisUp(false);
    const text1 = await metrics.registry.metrics();
    expect(sample(text1, 'pdp_cache_requests_total', { layer: 'memory', result: 'hit' })).toBe(2);
    expect(sample(text1, 'pdp_cache_requests_total', { layer: 'redis', result: 'error' })).toBe(1);
    expect(sample(text1, 'pdp_token_verifications_total', { kind: 'jwt', result: 'valid' })).toBe(1);
    expect(sample(text1, 'pdp_token_verifications_total', { kind: 'introspection', result: 'error' })).toBe(1);
    expect(sample(text1, 'pdp_policy_reloads_total', { result: 'failure' })).toBe(1);
    expect(sample(text1, 'pdp_redis_up')).toBe(0);

    metrics.redisUp(true);
    expect(sample(await metrics.registry.metrics(), 'pdp_redis_up')).toBe(1);
  });

  it('keeps pdp_policy_info at 1 for the version in force only', async () => {
    const metrics = new PdpMetrics();
    metrics.policyLoaded('aaaa', 9);
    metrics.policyReload('success');
    metrics.policyLoaded('bbbb', 11);
    const text = await metrics.registry.metrics();
    expect(sample(text, 'pdp_policy_info', { version: 'bbbb' })).toBe(1);
    expect(sample(text, 'pdp_policy_info', { version: 'aaaa' })).toBeUndefined();
    expect(sample(text, 'pdp_policy_rules')).toBe(11);
    expect(sample(text, 'pdp_policy_reloads_total', { result: 'success' })).toBe(1);
  });

  it('labels a cached answer with the layer that gave it', async () => {
    const metrics = new PdpMetrics();
    const outcome: DecisionOutcome = {
      decision: 'permit', reasons: [], advice: [], decisionId: 'd-1', policyVersion: 'v1', subject: undefined, source: 'redis', coalesced: false,
    };
    telemetryRecorder(metrics).record({
      meta: { endpoint: 'authzen_evaluation' },
      time: new Date(),
      durationSeconds: 0.0002,
      action: { name: 'read', properties: {} },
      resource: readEU,
      context: {},
      outcome,
    });
    const text = await metrics.registry.metrics();
    expect(sample(text, 'pdp_decisions_total', { decision: 'permit', endpoint: 'authzen_evaluation', source: 'redis' })).toBe(1);
    expect(sample(text, 'pdp_decision_duration_seconds_bucket', { endpoint: 'authzen_evaluation', le: '0.00025' })).toBe(1);
    expect(sample(text, 'pdp_decision_duration_seconds_bucket', { endpoint: 'authzen_evaluation', le: '0.0001' })).toBe(0);
  });
});

describe('a metrics source that fails', () => {
  it('answers 500 without its message when the failure is not a known unavailability', async () => {
    const logged: unknown[] = [];
    const failing: MetricsSource = { contentType: 'text/plain', metrics: () => Promise.reject(new TypeError('registry bug at /internal/path')) };
    const { app } = await buildObservedApp({ app: { metricsSource: failing, onUnexpectedError: (error) => void logged.push(error) } });
    const res = await app.request('/metrics');
    expect(res.status).toBe(500);
    expect(res.headers.get('retry-after')).toBeNull();
    const body = await readJson(res);
    expect(body).toMatchObject({ type: 'urn:invoice-pdp:problem:internal' });
    expect(JSON.stringify(body)).not.toContain('registry bug');
    expect(logged).toEqual([expect.any(TypeError)]);
  });
});

describe('METRICS_TOKEN', () => {
  const token = 'metrics-token-0123456789';
  let observed: Observed;
  beforeAll(async () => {
    observed = await buildObservedApp({ metricsToken: token });
  });

  it('answers 401 problem+json without the token, or with a wrong one (error="invalid_token")', async () => {
    const wrong = 'Bearer realm="metrics", error="invalid_token"';
    for (const [authorization, challenge] of [
      [undefined, 'Bearer realm="metrics"'],
      [`Basic ${token}`, 'Bearer realm="metrics"'],
      ['Bearer ', 'Bearer realm="metrics"'],
      [token, 'Bearer realm="metrics"'],
      [`Bearer ${token}x`, wrong],
      [`Bearer ${token} ${token}`, wrong],
    ] as const) {
      const res = await observed.app.request('/metrics', {
        headers: { ...(authorization !== undefined && { authorization }), 'x-request-id': 'scrape-1' },
      });
      expect(res.status, String(authorization)).toBe(401);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.headers.get('www-authenticate'), String(authorization)).toBe(challenge);
      const body = await readJson(res);
      expect(body).toMatchObject({ status: 401, requestId: 'scrape-1', detail: challenge === wrong ? 'the metrics token is not accepted' : expect.stringContaining('send the metrics token') });
      expect(JSON.stringify(body)).not.toContain(token);
    }
  });

  it('serves the metrics with the right bearer token', async () => {
    const text = await scrape(observed.app, token);
    expect(text).toContain('pdp_decisions_total');
    expect(sample(text, 'http_requests_total', { method: 'GET', route: '/metrics', status: '401' })).toBeGreaterThanOrEqual(5);
  });
});

describe('the Grafana dashboard (deploy/grafana/invoice-pdp.json)', () => {
  it('queries only metrics the service exports', async () => {
    const dashboard = JSON.parse(await readFile(resolve(import.meta.dirname, '../deploy/grafana/invoice-pdp.json'), 'utf8')) as {
      panels: { targets?: { expr: string }[] }[];
    };
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    expect(exprs.length).toBeGreaterThan(10);
    const metrics = new PdpMetrics();
    metrics.redisUp(true);
    metrics.httpRequest('GET', '/readyz', 200, 0.001);
    metrics.policyLoaded('v1', 3);
    countRejections(metrics);
    const exported = new Set([...(await metrics.registry.metrics()).matchAll(/^(\w+)(?:\{| )/gm)].map((m) => m[1]));
    const queried = new Set(exprs.flatMap((e) => [...e.matchAll(/\b((?:pdp|http|process|nodejs)_\w+)/g)].map((m) => m[1])));
    for (const name of queried) expect(exported, name).toContain(name);
  });
});

describe('pdp_policy_last_reload_successful', () => {
  const adminKey = 'admin-key-0123456789abcdef';

  /**
   * A service over a fresh policy directory holding `docs` (rule `read-all`), reloaded only when
   * asked through the admin endpoint; closed and removed once `use` is done.
   */
  async function withReloadableService(use: (dir: string, app: Service['app'], reload: () => Promise<Response>) => Promise<void>): Promise<void> {
    const dir = await tempDir();
    await writeFiles(dir.path, { 'docs.json': docPolicy('docs', 'read-all') });
    const service = await createService(
      loadConfig({ POLICY_DIR: dir.path, POLICY_WATCH: 'false', AUDIT_DECISIONS: 'none', PDP_ADMIN_KEYS: adminKey }),
      createLogger('silent'),
    );
    const reload = async () => service.app.request('/admin/policies/reload', { method: 'POST', headers: { authorization: `Bearer ${adminKey}` } });
    try {
      await use(dir.path, service.app, reload);
    } finally {
      await service.close();
      await dir.remove();
    }
  }

  it('is 0 while the files on disk are refused and an older set serves, 1 once a reload succeeds', async () => {
    await withReloadableService(async (dir, app, reload) => {
      const successful = async () => sample(await scrape(app), 'pdp_policy_last_reload_successful');
      expect(await successful()).toBe(1);
      await writeFiles(dir, { 'docs.json': { ...docPolicy('docs', 'read-all'), rules: 'not a list' } });
      expect((await reload()).status).toBe(422);
      expect(await successful()).toBe(0);
      expect((await reload()).status).toBe(422);
      expect(await successful()).toBe(0);
      await writeFiles(dir, { 'docs.json': docPolicy('docs', 'read-some') });
      expect((await reload()).status).toBe(200);
      expect(await successful()).toBe(1);
    });
  });

  it('is 1 again once the files are put back to the set still serving, a reload that changes nothing', async () => {
    await withReloadableService(async (dir, app, reload) => {
      const answer = async () => (await reload()).json() as Promise<Record<string, unknown>>;
      await writeFiles(dir, { 'docs.json': { ...docPolicy('docs', 'read-all'), rules: 'not a list' } });
      expect(await answer()).toMatchObject({ status: 422 });
      expect(sample(await scrape(app), 'pdp_policy_last_reload_successful')).toBe(0);
      await writeFiles(dir, { 'docs.json': docPolicy('docs', 'read-all') });
      expect(await answer()).toMatchObject({ changed: false });
      const text = await scrape(app);
      expect(sample(text, 'pdp_policy_last_reload_successful')).toBe(1);
      expect(sample(text, 'pdp_policy_reloads_total', { result: 'success' })).toBe(1);
      expect(sample(text, 'pdp_policy_reloads_total', { result: 'failure' })).toBe(1);
    });
  });
});
