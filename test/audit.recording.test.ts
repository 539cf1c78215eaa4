import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheFromConfig, type CacheSetup } from '../src/cache/from-config.js';
import { loadConfig } from '../src/config.js';
import { countRejections } from '../src/http/rejections.js';
import { AuditLog } from '../src/telemetry/audit.js';
import { PdpMetrics } from '../src/telemetry/metrics.js';
import { telemetryRecorder } from '../src/telemetry/recorder.js';
import type { Claims } from '../src/token/claims.js';
import { createIntrospector } from '../src/token/introspect.js';
import type { TokenVerifier } from '../src/token/verify.js';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { interopDir } from './helpers/authzen.js';
import { startIntrospectionServer, type IntrospectionServer } from './helpers/introspection-server.js';
import { auditEntries, auditSettled, buildObservedApp, memorySink, scrape, sample } from './helpers/telemetry.js';

// What gets recorded (audit line, pdp_decisions_total) for each decision: exactly the decisions
// a caller was given, each once.

const accountant = { type: 'user', id: 'u-acc', properties: { roles: ['accountant'], scope: 'invoice.read invoice.write', region: 'EU' } };
const invoice = { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'EU', status: 'submitted' } };

const decisions = (text: string, endpoint: string, decision: 'permit' | 'deny', source = 'evaluated') =>
  sample(text, 'pdp_decisions_total', { decision, endpoint, source });

describe('a request answered 503 timeout', () => {
  let server: IntrospectionServer;
  beforeAll(async () => {
    server = await startIntrospectionServer();
  });
  afterAll(() => server.close());

  it('records nothing of the decision it was still making, which it never gave', async () => {
    const slow = 'opaque-token-slow';
    // The slow token's answer is held until the request has been answered 503: the decision is
    // still being made at the deadline whatever the load (on a loaded machine the lookup reached
    // the server only after the 0.9 s the test slept). The deadline is a second: the quick
    // request below took more than 0.2 s on a loaded machine, and was answered 503.
    let answerSlow = (): void => undefined;
    const slowAnswered = new Promise<void>((resolve) => (answerSlow = resolve));
    server.answer(slow, { until: slowAnswered, body: { active: true, sub: 'alice', roles: ['accountant'], scope: 'invoice.read', region: 'EU' } });
    const introspection = createIntrospector({ url: server.url, clientId: server.clientId, clientSecret: server.clientSecret, timeoutMs: 5_000 });
    const lookups: Promise<Claims>[] = [];
    const tokens: TokenVerifier = {
      verify: (token) => {
        const claims = introspection.verify(token);
        lookups.push(claims);
        return claims;
      },
    };
    const { app, sink } = await buildObservedApp({ tokens, app: { requestTimeoutMs: 1_000 } });

    const res = await postJson(app, '/decide', { token: slow, action: 'read', resource: invoice }, { 'x-request-id': 'late-1' });
    expect(res.status).toBe(503);
    expect((await readJson(res)).type).toBe('urn:invoice-pdp:problem:timeout');
    // Let the introspection answer arrive and the abandoned decision finish (a permit).
    answerSlow();
    await Promise.all(lookups);
    // From its token's claims on, the decision waits on nothing: it is made and recorded before the next turn.
    await auditSettled();
    expect(server.requestsFor(slow)).toBe(1);

    const text = await scrape(app);
    expect(await auditEntries(sink)).toEqual([]);
    expect(decisions(text, 'decide', 'permit')).toBe(0);
    expect(decisions(text, 'decide', 'deny')).toBe(0);
    expect(sample(text, 'pdp_requests_rejected_total', { reason: 'timeout' })).toBe(1);

    // A request answered in time is recorded as ever.
    server.answer('opaque-token-quick', { body: { active: true, sub: 'bob', roles: ['accountant'], scope: 'invoice.read', region: 'EU' } });
    const quick = await readJson(await postJson(app, '/decide', { token: 'opaque-token-quick', action: 'read', resource: invoice }));
    const entries = await auditEntries(sink);
    expect(entries.map((e) => [e.decisionId, e.decision])).toEqual([[quick.decisionId, 'permit']]);
  });
});

describe('an evaluations batch', () => {
  it('records an invalid item as the deny it was answered with, saying why', async () => {
    const { app, sink } = await buildObservedApp();
    const res = await postJson(app, '/access/v1/evaluations', {
      subject: accountant,
      action: { name: 'read' },
      evaluations: [{ resource: invoice }, { resource: { ...invoice, id: 'inv-2' } }, { resource: 5 }],
    });
    expect((await readJson(res)).evaluations).toEqual([{ decision: true }, { decision: true }, { decision: false }]);
    const entries = await auditEntries(sink);
    expect(entries).toHaveLength(3);
    expect(entries.map((e) => e.decision)).toEqual(['permit', 'permit', 'deny']);
    expect(entries[2]).toMatchObject({
      endpoint: 'authzen_evaluations',
      subject: null,
      action: null,
      resource: null,
      context: null,
      decision: 'deny',
      rules: [],
      reasons: [{ code: 'invalid_request', detail: expect.stringMatching(/^\$\.evaluations\[2\]\.resource: /) }],
      source: 'evaluated',
    });
    expect(entries[2]?.decisionId).toEqual(expect.any(String));
    const text = await scrape(app);
    expect(decisions(text, 'authzen_evaluations', 'permit')).toBe(2);
    expect(decisions(text, 'authzen_evaluations', 'deny')).toBe(1);
  });

  it('records the items answered, up to where a short-circuit stopped, in order', async () => {
    const { app, sink } = await buildObservedApp();
    const res = await postJson(app, '/access/v1/evaluations', {
      subject: accountant,
      resource: invoice,
      options: { evaluations_semantic: 'deny_on_first_deny' },
      evaluations: [{ action: { name: 'read' } }, { action: {} }, { action: { name: 'delete' } }],
    });
    expect((await readJson(res)).evaluations).toEqual([{ decision: true }, { decision: false }]);
    const entries = await auditEntries(sink);
    expect(entries.map((e) => [e.decision, (e.action as { name: string } | null)?.name ?? null])).toEqual([['permit', 'read'], ['deny', null]]);
    expect(JSON.stringify(entries[1]?.['reasons'])).toContain('$.evaluations[1].action.name');
  });
});

describe('an action search', () => {
  it('records the candidates each page answers for, each once over all pages', async () => {
    const { app, sink } = await buildObservedApp();
    const body = { subject: accountant, resource: invoice, page: { limit: 1 } };
    const pages: { results: { name: string }[]; lines: [string, string][]; permits: number | undefined }[] = [];
    let token = '';
    do {
      const answer = await readJson(await postJson(app, '/access/v1/search/action', { ...body, page: { limit: 1, token } }));
      const entries = await auditEntries(sink);
      sink.lines.length = 0;
      pages.push({
        results: answer.results as { name: string }[],
        lines: entries.map((e) => [(e.action as { name: string }).name, String(e.decision)]),
        permits: decisions(await scrape(app), 'authzen_search', 'permit'),
      });
      token = (answer.page as { next_token: string }).next_token;
    } while (token !== '');
    expect(pages).toEqual([
      // The look-ahead (read, a permit) and the deny before it (delete) are the next page's.
      { results: [{ name: 'create' }], lines: [['approve', 'deny'], ['create', 'permit']], permits: 1 },
      { results: [{ name: 'read' }], lines: [['delete', 'deny'], ['read', 'permit']], permits: 2 },
      { results: [{ name: 'update' }], lines: [['update', 'permit']], permits: 3 },
    ]);
  });
});

describe('a search of each kind', () => {
  it.each([
    ['subject', { subject: { type: 'user' }, action: { name: 'view' }, resource: { type: 'record', id: '101' } }],
    ['resource', { subject: { type: 'user', id: 'alice' }, action: { name: 'delete' }, resource: { type: 'record' } }],
    ['action', { subject: { type: 'user', id: 'alice' }, resource: { type: 'record', id: '101' } }],
  ])('records every candidate of a %s search page under its request and authzen_search', async (kind, body) => {
    const { app, sink } = await buildObservedApp({ policyDir: interopDir });
    const answer = await readJson(await postJson(app, `/access/v1/search/${kind}`, body, { 'x-request-id': `search-${kind}` }));
    const hits = (answer.results as unknown[]).length;
    expect(hits).toBeGreaterThan(0);
    const entries = await auditEntries(sink);
    expect(entries.filter((e) => e.decision === 'permit')).toHaveLength(hits);
    for (const entry of entries) expect(entry).toMatchObject({ endpoint: 'authzen_search', requestId: `search-${kind}` });
    expect(decisions(await scrape(app), 'authzen_search', 'permit')).toBe(hits);
  });
});

describe('single flight', () => {
  let setup: CacheSetup;
  afterAll(async () => {
    await setup.close();
  });

  it('records a request that joined an identical lookup in flight as coalesced, and counts it', async () => {
    const metrics = new PdpMetrics();
    const sink = memorySink();
    setup = await cacheFromConfig(loadConfig({ CACHE_MEMORY_ENTRIES: '100' }), { observer: metrics });
    const { app } = await buildTestApp({
      cache: setup.cache,
      recorder: telemetryRecorder(metrics, new AuditLog({ sink })),
      app: { metrics, onProblem: countRejections(metrics) },
    });
    const res = await postJson(app, '/access/v1/evaluations', {
      subject: accountant,
      action: { name: 'read' },
      resource: invoice,
      options: { include_reasons: true },
      evaluations: [{}, {}],
    });
    const answers = (await readJson(res)).evaluations as { decision: boolean; context: { decision_id: string } }[];
    expect(answers.map((a) => a.decision)).toEqual([true, true]);
    const entries = await auditEntries(sink);
    expect(entries.map((e) => [e.decisionId, e.source])).toEqual([
      [answers[0]?.context.decision_id, 'evaluated'],
      [answers[1]?.context.decision_id, 'coalesced'],
    ]);
    const text = await scrape(app);
    expect(decisions(text, 'authzen_evaluations', 'permit', 'evaluated')).toBe(1);
    expect(decisions(text, 'authzen_evaluations', 'permit', 'coalesced')).toBe(1);
    expect(sample(text, 'pdp_cache_requests_total', { layer: 'memory', result: 'miss' })).toBe(1);
    expect(sample(text, 'pdp_cache_requests_total', { layer: 'memory', result: 'coalesced' })).toBe(1);
    expect(sample(text, 'pdp_cache_requests_total', { layer: 'memory', result: 'hit' })).toBe(0);
  });
});
