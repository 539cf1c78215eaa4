import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { callerKeys } from '../src/caller/keys.js';
import { loadConfig } from '../src/config.js';
import { AuditLog } from '../src/telemetry/audit.js';
import { AuditUnavailableError, auditDestination } from '../src/telemetry/audit-destination.js';
import { PdpMetrics } from '../src/telemetry/metrics.js';
import { auditErrorReporter, telemetryRecorder } from '../src/telemetry/recorder.js';
import { startServer } from '../src/http/server.js';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { connectTo, readResponse } from './helpers/raw-http.js';
import { auditEntries, auditSettled, buildObservedApp, jwtIssuer, memorySink, sample, scrape } from './helpers/telemetry.js';
import { tempDir } from './helpers/tmp.js';
import { startWorkClock } from './helpers/work-clock.js';

const accountant = {
  id: 'u-acc',
  properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU', email: 'acc@example.com' },
};
const invoice = { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'EU' } };
const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';

describe('audit log', () => {
  it('writes one JSON line per decision with the decision, the request and who asked', async () => {
    const { app, sink } = await buildObservedApp();
    const res = await postJson(app, '/decide', { subject: accountant, action: 'read', resource: invoice, context: { mfa: true } }, {
      'x-request-id': 'req-42',
      traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
    });
    const body = await readJson(res);
    const entries = await auditEntries(sink);
    expect(entries).toHaveLength(1);
    const entry = entries[0];
    expect(entry).toMatchObject({
      decisionId: body.decisionId,
      requestId: 'req-42',
      traceId,
      endpoint: 'decide',
      subject: { type: 'user', id: 'u-acc', properties: { region: 'EU' } },
      action: { name: 'read' },
      resource: { type: 'invoice', id: 'inv-1', properties: { region: 'EU' } },
      context: { mfa: true },
      decision: 'permit',
      rules: ['P2-finance-read-own-region'],
      policyVersion: body.policyVersion,
      source: 'evaluated',
    });
    expect(new Date(String(entry?.time)).toISOString()).toBe(entry?.time);
    expect(entry?.latencyMs).toEqual(expect.any(Number));
    expect(entry?.latencyMs).toBeGreaterThan(0);
    expect(sink.lines[0]?.endsWith('\n')).toBe(true);
  });

  it('stamps each line with the time of its own decision', async () => {
    let now = new Date('2025-03-01T09:00:00.000Z');
    const { app, sink } = await buildObservedApp({ clock: () => now });
    const times = ['2025-03-01T09:00:00.000Z', '2025-03-01T09:00:00.001Z', '2025-03-01T17:30:05.250Z'];
    for (const time of times) {
      now = new Date(time);
      await postJson(app, '/decide', { subject: accountant, action: 'read', resource: invoice });
      await auditEntries(sink);
    }
    expect((await auditEntries(sink)).map((entry) => entry['time'])).toEqual(times);
  });

  it('names the caller by a fingerprint of its key, never the key, and as anonymous while callers are not authenticated', async () => {
    const trustedKey = 'trusted-key-0123456789abcdef';
    const keyed = await buildObservedApp({ app: { callers: callerKeys({ api: [], trusted: [trustedKey], admin: [] }) } });
    await postJson(keyed.app, '/decide', { subject: accountant, action: 'read', resource: invoice }, { authorization: `Bearer ${trustedKey}` });
    const open = await buildObservedApp();
    await postJson(open.app, '/decide', { subject: accountant, action: 'read', resource: invoice });
    const [[byKey], [anonymous]] = await Promise.all([auditEntries(keyed.sink), auditEntries(open.sink)]);
    expect(byKey).toMatchObject({ caller: { id: expect.stringMatching(/^key-[0-9a-f]{12}$/), trusted: true } });
    expect(keyed.sink.lines[0]).not.toContain(trustedKey.slice(0, 8));
    expect(anonymous).toMatchObject({ caller: { id: 'anonymous', trusted: true } });
  });

  it('records the deciding rules and reason codes of a deny', async () => {
    const { app, sink } = await buildObservedApp();
    await postJson(app, '/decide', {
      subject: { id: 'm', properties: { roles: ['finance_manager'], scope: 'invoice.write', region: 'EU', approval_limit: 100 } },
      action: 'approve',
      resource: { type: 'invoice', id: 'inv-9', properties: { region: 'EU', status: 'submitted', amount: 5, owner: 'm' } },
    });
    await postJson(app, '/decide', { subject: accountant, action: 'read', resource: { type: 'receipt' } });
    const [selfApproval, unknownType] = await auditEntries(sink);
    expect(selfApproval).toMatchObject({ decision: 'deny', rules: expect.arrayContaining(['D1-no-self-approval', 'D3-approve-requires-mfa']) });
    expect(unknownType).toMatchObject({ decision: 'deny', rules: [], reasons: [{ code: 'unknown_resource_type' }] });
    expect(unknownType).not.toHaveProperty('traceId');
  });

  it('never writes the token, valid or not, and masks e-mail by default', async () => {
    const issuer = await jwtIssuer();
    const { app, sink } = await buildObservedApp({ tokens: issuer.tokens });
    const token = await issuer.sign({ roles: ['accountant'], scope: 'invoice.read', region: 'EU', email: 'alice@example.com' }, 'alice');
    const good = await readJson(await postJson(app, '/decide', { token, action: 'read', resource: invoice }));
    expect(good.decision).toBe('permit');
    const forged = `${token.slice(0, -6)}AAAAAA`;
    const bad = await readJson(await postJson(app, '/decide', { token: forged, action: 'read', resource: invoice }));
    expect(bad.decision).toBe('deny');

    const [verified, rejected] = await auditEntries(sink);
    expect(verified).toMatchObject({ subject: { id: 'alice', properties: { sub: 'alice', email: '[REDACTED]' } }, decision: 'permit' });
    expect(rejected).toMatchObject({ subject: null, decision: 'deny', reasons: [{ code: 'invalid_token' }] });
    const output = sink.lines.join('');
    const [header, payload, signature] = token.split('.');
    for (const secret of [token, forged, `${header}.${payload}`, signature ?? token, 'alice@example.com']) {
      expect(output).not.toContain(secret);
    }
  });

  it('masks by default each personal claim of the subject, and the resource\'s e-mail', async () => {
    const { app, sink } = await buildObservedApp();
    const personal = {
      email: 'alice@example.com', name: 'Alice Liddell', given_name: 'Alicia', family_name: 'Liddellson',
      phone_number: '+44 20 7946 0018', address: { street_address: '7 Wonderland Lane', locality: 'Oxford' },
    };
    const subject = { ...accountant, properties: { ...accountant.properties, ...personal } };
    const resource = { ...invoice, properties: { ...invoice.properties, email: 'ap@acme.example' } };
    expect((await readJson(await postJson(app, '/decide', { subject, action: 'read', resource }))).decision).toBe('permit');
    const [entry] = await auditEntries(sink);
    const masked = Object.fromEntries(Object.keys(personal).map((key) => [key, '[REDACTED]']));
    expect(entry).toMatchObject({ subject: { properties: { ...masked, region: 'EU' } }, resource: { properties: { email: '[REDACTED]', region: 'EU' } } });
    const output = sink.lines.join('');
    for (const secret of ['alice@example.com', 'Alice Liddell', 'Alicia', 'Liddellson', '7946', 'Wonderland', 'acme.example']) expect(output).not.toContain(secret);
  });

  it('masks the configured paths, wildcards included, without touching the request', async () => {
    const { app, sink } = await buildObservedApp({
      audit: {
        redact: ['resource.properties.customer.iban', 'context.x-forwarded-for', 'subject.properties.*.secret', 'resource.properties.contacts.*.email'],
      },
    });
    const subject = { id: 'u-1', properties: { ...accountant.properties, device: { secret: 's3cr3t', kind: 'phone' } } };
    const resource = { ...invoice, properties: { ...invoice.properties, customer: { iban: 'DE89370400440532013000', name: 'ACME' },
      contacts: [{ email: 'ap@acme.example', role: 'payables' }, { email: 'cfo@acme.example' }] } };
    const res = await postJson(app, '/decide', { subject, action: 'read', resource, context: { 'x-forwarded-for': '203.0.113.9', channel: 'web' } });
    expect((await readJson(res)).decision).toBe('permit');
    const [entry] = await auditEntries(sink);
    expect(entry).toMatchObject({
      subject: { properties: { device: { secret: '[REDACTED]', kind: 'phone' }, email: 'acc@example.com' } },
      resource: {
        properties: {
          customer: { iban: '[REDACTED]', name: 'ACME' },
          contacts: [{ email: '[REDACTED]', role: 'payables' }, { email: '[REDACTED]' }],
        },
      },
      context: { 'x-forwarded-for': '[REDACTED]', channel: 'web' },
    });
    const output = sink.lines.join('');
    for (const secret of ['s3cr3t', 'DE89370400440532013000', '203.0.113.9', 'acme.example']) expect(output).not.toContain(secret);
  });

  it('masks a wildcard over many members in time linear in their number', async () => {
    const { app, sink } = await buildObservedApp({ audit: { redact: ['resource.properties.contacts.*.email'] } });
    // Work to answer and log `times` requests whose contacts are `count` members, each with an email to mask.
    const work = async (count: number, times: number) => {
      const contacts = Object.fromEntries(Array.from({ length: count }, (_, i) => [`c${i}`, { email: `c${i}@acme.example` }]));
      const resource = { ...invoice, properties: { ...invoice.properties, contacts } };
      const elapsed = startWorkClock();
      for (let i = 0; i < times; i++) await readJson(await postJson(app, '/decide', { subject: accountant, action: 'read', resource }));
      await auditEntries(sink);
      return elapsed();
    };
    // Ten requests of 100 members against one of 1,000: as many members masked, so about as much
    // work. Each the least of three runs, alternated: one garbage collection falling in the single
    // request of 1,000 took it from ~6 ms to 84 ms on a loaded machine.
    let short = Infinity;
    let long = Infinity;
    for (let run = 0; run < 3; run++) {
      short = Math.min(short, await work(100, 10));
      long = Math.min(long, await work(1_000, 1));
    }
    const entries = await auditEntries(sink);
    expect(entries).toHaveLength(33);
    expect(entries.at(-1)).toMatchObject({ resource: { properties: { contacts: { c0: { email: '[REDACTED]' }, c999: { email: '[REDACTED]' } } } } });
    expect(sink.lines.join('')).not.toContain('acme.example');
    expect(long).toBeLessThan(4 * short);
  });

  it('writes the line of a request that sends a list where a masked path ends in `length`', async () => {
    const { app, sink } = await buildObservedApp({ audit: { redact: ['resource.properties.dimensions.length', 'context.*.length'] } });
    const resource = { ...invoice, properties: { ...invoice.properties, dimensions: [210, 297] } };
    const answer = await readJson(await postJson(app, '/decide', { subject: accountant, action: 'read', resource, context: { sizes: [1, 2, 3], box: { length: 40 } } }));
    const entries = await auditEntries(sink);
    expect(entries.map((e) => e['decisionId'])).toEqual([answer['decisionId']]);
    // A list has no member `length` to mask; an object's is masked.
    expect(entries[0]).toMatchObject({ resource: { properties: { dimensions: [210, 297] } }, context: { sizes: [1, 2, 3], box: { length: '[REDACTED]' } } });
    expect(sample(await scrape(app), 'pdp_audit_errors_total')).toBe(0);
  });

  it('leaves the objects it logs unchanged', async () => {
    const sink = memorySink();
    const { decisions } = await buildTestApp({
      recorder: new AuditLog({ sink, redact: ['subject.properties.email', 'resource.properties.contacts.*.email'] }),
    });
    const properties = { roles: ['accountant'], scope: 'invoice.read', region: 'EU', email: 'keep@example.com' };
    const contacts = [{ email: 'ap@acme.example' }];
    const resource = { ...invoice, properties: { ...invoice.properties, contacts } };
    await decisions.decide({ subject: { claims: properties, id: 'u' }, action: { name: 'read', properties: {} }, resource, context: {} });
    await auditSettled();
    expect(sink.lines).toHaveLength(1);
    expect(sink.lines[0]).not.toContain('@');
    expect(properties.email).toBe('keep@example.com');
    expect(contacts).toEqual([{ email: 'ap@acme.example' }]);
  });

  it('logs only denies with AUDIT_DECISIONS=deny, and nothing with none', async () => {
    const onlyDenies = await buildObservedApp({ audit: { decisions: 'deny' } });
    const silent = await buildObservedApp({ audit: { decisions: 'none' } });
    for (const { app } of [onlyDenies, silent]) {
      await postJson(app, '/decide', { subject: accountant, action: 'read', resource: invoice });
      await postJson(app, '/decide', { subject: accountant, action: 'delete', resource: invoice });
    }
    const entries = await auditEntries(onlyDenies.sink);
    expect(entries.map((e) => [e.decision, (e.action as { name: string }).name])).toEqual([['deny', 'delete']]);
    expect(await auditEntries(silent.sink)).toEqual([]);
  });

  it('keeps a line one line for readers that also break lines at NEL, U+2028 and U+2029', async () => {
    const { app, sink } = await buildObservedApp();
    const id = 'inv-1\n\u0085\u2028\u2029\r\v\f';
    await postJson(app, '/decide', { subject: accountant, action: 'read', resource: { ...invoice, id }, context: { ['note\u2028']: 'a\u2029b' } });
    const entries = await auditEntries(sink);
    expect(sink.lines).toHaveLength(1);
    // Python's str.splitlines() and Unicode-aware editors break lines at each of these.
    expect(sink.lines[0]?.split(/\r\n|[\n\v\f\r\x85\u2028\u2029]/)).toHaveLength(2);
    expect(entries[0]).toMatchObject({ resource: { id }, context: { ['note\u2028']: 'a\u2029b' } });
  });

  it.each([['NEL', '\u0085'], ['U+2028', '\u2028'], ['U+2029', '\u2029']])('escapes %s when it is the only line break in the line', async (_, lineBreak) => {
    const { app, sink } = await buildObservedApp();
    const id = `inv-${lineBreak}1`;
    await postJson(app, '/decide', { subject: accountant, action: 'read', resource: { ...invoice, id } });
    const entries = await auditEntries(sink);
    expect(sink.lines).toHaveLength(1);
    expect(sink.lines[0]).not.toContain(lineBreak);
    expect(entries[0]).toMatchObject({ resource: { id } });
  });

  it('takes the trace id from a valid traceparent only, of at most 512 characters', async () => {
    const { app, sink } = await buildObservedApp();
    const futureHeader = (length: number) => `01-${traceId}-00f067aa0ba902b7-01-`.padEnd(length, 'f');
    const headers = [
      `00-${traceId}-00f067aa0ba902b7-01`,
      `01-${traceId}-00f067aa0ba902b7-01-future-fields`,
      futureHeader(512),
      `00-${traceId}-00f067aa0ba902b7-01-extra`,
      `ff-${traceId}-00f067aa0ba902b7-01`,
      `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`,
      `00-${traceId}-${'0'.repeat(16)}-01`,
      `00-${traceId.toUpperCase()}-00f067aa0ba902b7-01`,
      `00-${traceId}-00f067aa0ba902b7`,
      'garbage',
      futureHeader(513),
      // A byte beyond ASCII is no whitespace HTTP strips: the header is not a traceparent.
      `00-${traceId}-00f067aa0ba902b7-01\u00a0`,
      `\u00a000-${traceId}-00f067aa0ba902b7-01`,
    ];
    for (const traceparent of headers) {
      await postJson(app, '/decide', { subject: accountant, action: 'read', resource: invoice }, { traceparent });
    }
    const entries = await auditEntries(sink);
    expect(entries.map((e) => e.traceId)).toEqual([traceId, traceId, traceId, ...Array<undefined>(10).fill(undefined)]);
  });
});

describe('the audit bytes of one request', () => {
  const subject = { type: 'user', id: 'u-acc', properties: accountant.properties };
  // Each test drains the queue: a turn's drain stops after 5 ms, which a loaded machine reaches.
  const batch = (context: Record<string, unknown>, items: number) => ({
    subject,
    action: { name: 'read' },
    context,
    evaluations: Array.from({ length: items }, (_, i) => ({ resource: { ...invoice, id: `inv-${String(i)}` } })),
  });

  it('write its lines whole up to maxRequestBytes, then without their data, naming what each left out', async () => {
    const maxRequestBytes = 16 * 1024;
    const { app, sink, audit } = await buildObservedApp({ audit: { maxRequestBytes } });
    const res = await postJson(app, '/access/v1/evaluations', batch({ note: 'x'.repeat(3000) }, 20), { 'x-request-id': 'batch-1' });
    expect(res.status).toBe(200);
    const answer = await readJson(res);
    audit.drain();
    const entries = await auditEntries(sink);
    expect(entries).toHaveLength(20);
    const whole = entries.findIndex((entry) => 'erased' in entry);
    // Each whole line repeats the 3,000-character context: four fit in 16 KiB.
    expect(whole).toBe(4);
    const bytes = sink.lines.slice(0, whole).reduce((sum, line) => sum + Buffer.byteLength(line), 0);
    expect(bytes).toBeLessThanOrEqual(maxRequestBytes);
    // A fifth line as long as the first would not have fitted.
    expect(bytes + Buffer.byteLength(sink.lines[0] ?? '')).toBeGreaterThan(maxRequestBytes);
    expect(entries.slice(0, whole).every((entry) => !('erased' in entry) && (entry['context'] as { note: string }).note.length === 3000)).toBe(true);
    const decisions = (answer['evaluations'] as { decision: boolean }[]).map((item) => item.decision);
    for (const [i, entry] of entries.entries()) {
      expect(entry, `line ${String(i)}`).toMatchObject({ requestId: 'batch-1', endpoint: 'authzen_evaluations', decision: decisions[i] === true ? 'permit' : 'deny', rules: expect.any(Array) });
      if (i < whole) continue;
      expect(entry['erased']).toEqual(['subject.properties', 'resource.properties', 'context']);
      expect(entry).not.toHaveProperty('context');
      expect(entry['subject']).toEqual({ type: 'user', id: 'u-acc' });
      expect(entry['action']).toEqual({ name: 'read' });
      expect(entry['resource']).toEqual({ type: 'invoice', id: `inv-${String(i)}` });
    }
    // The next request has a budget of its own.
    await postJson(app, '/decide', { subject: accountant, action: 'read', resource: invoice, context: { note: 'y' } });
    const [next] = (await auditEntries(sink)).slice(20);
    expect(next).toMatchObject({ endpoint: 'decide', context: { note: 'y' }, subject: { properties: { region: 'EU' } } });
    expect(next).not.toHaveProperty('erased');
  });

  it('leave out the data of every line after the first that went past the budget, however short', async () => {
    const { app, sink, audit } = await buildObservedApp({ audit: { maxRequestBytes: 16 * 1024 } });
    const body = batch({ note: 'n' }, 8);
    const large = { ...invoice, id: 'inv-large', properties: { ...invoice.properties, memo: ['m'.repeat(10_000), 'm'.repeat(10_000)] } };
    const res = await postJson(app, '/access/v1/evaluations', { ...body, evaluations: body.evaluations.map((item, i) => (i === 2 ? { resource: large } : item)) });
    expect(res.status).toBe(200);
    audit.drain();
    const entries = await auditEntries(sink);
    expect(entries).toHaveLength(8);
    expect(entries.map((entry) => 'erased' in entry)).toEqual([false, false, true, true, true, true, true, true]);
    for (const entry of entries.slice(2)) expect(entry).not.toHaveProperty('context');
    expect(sink.lines.join('')).not.toContain('mmm');
  });

  it('leave out the data of a line that alone goes past the budget, and mask what stays', async () => {
    const { app, sink } = await buildObservedApp({ audit: { maxRequestBytes: 1024, redact: ['subject.id'] } });
    await postJson(app, '/decide', { subject: accountant, action: 'read', resource: invoice, context: { note: 'z'.repeat(2000) } });
    const [entry] = await auditEntries(sink);
    expect(entry).toMatchObject({ subject: { type: 'user', id: '[REDACTED]' }, erased: ['subject.properties', 'resource.properties', 'context'], decision: 'permit' });
    expect(sink.lines[0]).not.toContain('zzz');
  });

  it('leave the subject\'s properties out of a line without its data where a path masks them, as the resource\'s and the action\'s', async () => {
    const { app, sink } = await buildObservedApp({ audit: { maxRequestBytes: 1024, redact: ['subject.properties', 'subject.*', 'resource.*', 'action.*'] } });
    await postJson(app, '/decide', { subject: accountant, action: 'read', resource: invoice, context: { note: 'z'.repeat(2000) } });
    const [entry] = await auditEntries(sink);
    expect(entry).toMatchObject({ erased: ['subject.properties', 'resource.properties', 'context'] });
    expect(entry?.['subject']).toEqual({ type: '[REDACTED]', id: '[REDACTED]' });
    expect(entry?.['action']).toEqual({ name: '[REDACTED]' });
    expect(entry?.['resource']).toEqual({ type: '[REDACTED]', id: '[REDACTED]' });
  });

  it('name only the parts that held something: a line without a subject leaves out no subject properties', async () => {
    const issuer = await jwtIssuer();
    const { app, sink } = await buildObservedApp({ tokens: issuer.tokens, audit: { maxRequestBytes: 1024 } });
    const token = await issuer.sign({ roles: ['accountant'] }, 'alice');
    await postJson(app, '/decide', { token: `${token.slice(0, -6)}AAAAAA`, action: 'read', resource: invoice, context: { note: 'z'.repeat(2000) } });
    const [entry] = await auditEntries(sink);
    expect(entry).toMatchObject({ subject: null, decision: 'deny', erased: ['resource.properties', 'context'] });
  });

  it('leave out the data of a line over 8 MiB whatever the budget: the log, holding 16 MiB unwritten, would drop it whole', async () => {
    const { app, sink, audit } = await buildObservedApp({ audit: { maxRequestBytes: 64 * 1024 * 1024 }, app: { maxBodyBytes: 16 * 1024 * 1024 } });
    const context = Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`k${String(i)}`, 'n'.repeat(16_000)]));
    const res = await postJson(app, '/decide', { subject: accountant, action: 'read', resource: invoice, context });
    expect(res.status).toBe(200);
    audit.drain();
    const [entry] = await auditEntries(sink);
    expect(entry).toMatchObject({ endpoint: 'decide', decision: 'permit', erased: ['subject.properties', 'resource.properties', 'context'] });
    expect(Buffer.byteLength(sink.lines[0] ?? '')).toBeLessThan(2048);
  });

  it('write whole every line of a batch within the default 4 MiB', async () => {
    const { app, sink, audit } = await buildObservedApp();
    await postJson(app, '/access/v1/evaluations', batch({ note: 'x'.repeat(3000) }, 100));
    audit.drain();
    const entries = await auditEntries(sink);
    expect(entries).toHaveLength(100);
    expect(entries.filter((entry) => 'erased' in entry)).toEqual([]);
  });
});

describe('the audit lines waiting to be built', () => {
  it('keep up with the answers: the lines of at most 16 requests wait after a turn, however many came in it', async () => {
    const { app, sink } = await buildObservedApp();
    // Lines of 4,000 members each, which take a while to build: a turn's 5 ms built 7 to 10 of
    // them, and a steady stream of such requests left their data waiting without end (1 MB
    // contexts: 2.5 GB after 24 s, still growing). Lines of 16,000 members made this test take
    // 19.5 s on a machine at a load of 16, close to its 20 s.
    const context = Object.fromEntries(Array.from({ length: 4 }, (_, g) => [`g${String(g)}`, Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${String(i)}`, i]))]));
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => postJson(app, '/decide', { subject: accountant, action: 'read', resource: { ...invoice, id: `inv-${String(i)}` }, context })));
    expect(answers.map((res) => res.status)).toEqual(Array.from({ length: 100 }, () => 200));
    await auditSettled();
    expect(sink.lines.length).toBeGreaterThanOrEqual(100 - 16);
    expect(await auditEntries(sink)).toHaveLength(100);
  });

  it('go out a slice at a time however many requests the process has answered before', async () => {
    const { app, sink } = await buildObservedApp({ audit: { maxRequestBytes: 64 * 1024 * 1024 } });
    // More requests than may wait, each of them written out long before the large one comes.
    for (let i = 0; i < 20; i++) {
      await postJson(app, '/decide', { subject: accountant, action: 'read', resource: invoice });
      await auditEntries(sink);
    }
    // 100 lines of 4,000 members each: a 5 ms slice builds about 10 of them.
    const context = Object.fromEntries(Array.from({ length: 4 }, (_, g) => [`g${String(g)}`, Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${String(i)}`, i]))]));
    const subject = { type: 'user', id: 'u-acc', properties: accountant.properties };
    const evaluations = Array.from({ length: 100 }, (_, i) => ({ resource: { ...invoice, id: `inv-${String(i)}` } }));
    expect((await postJson(app, '/access/v1/evaluations', { subject, action: { name: 'read' }, context, evaluations })).status).toBe(200);
    // One turn: one slice of the request's lines, the rest left to later turns.
    await auditSettled();
    expect(sink.lines.length).toBeLessThan(20 + 100);
    expect(await auditEntries(sink)).toHaveLength(20 + 100);
  });
});

describe('a request answered before its body arrived', () => {
  it('is neither decided into the audit log nor counted: a 408 batch whose body comes in after it', async () => {
    const { app, sink, metrics, audit } = await buildObservedApp({ app: { requestTimeoutMs: 300 } });
    const running = await startServer(app.fetch, { port: 0, hostname: '127.0.0.1' });
    try {
      const body = JSON.stringify({ subject: { type: 'user', id: 'u-acc', properties: accountant.properties }, action: { name: 'read' }, evaluations: [{ resource: invoice }, { resource: { ...invoice, id: 'inv-2' } }] });
      const socket = await connectTo(running.port);
      const response = readResponse(socket);
      socket.write(`POST /access/v1/evaluations HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${String(body.length)}\r\n\r\n${body.slice(0, 10)}`);
      expect((await response).status).toBe(408);
      // The rest arrives: the route reads it, but its decisions reach no one.
      socket.write(body.slice(10));
      await new Promise((settled) => setTimeout(settled, 300));
      socket.destroy();
      audit.drain();
      expect(sink.lines).toEqual([]);
      expect(sample(await metrics.registry.metrics(), 'pdp_decisions_total', { decision: 'permit', endpoint: 'authzen_evaluations', source: 'evaluated' }) ?? 0).toBe(0);
    } finally {
      await running.shutdown(100);
    }
  });
});

describe('audit failures never reach the decision', () => {
  it('writes the line only after the answer is out', async () => {
    const { app, sink } = await buildObservedApp();
    const res = await postJson(app, '/decide', { subject: accountant, action: 'read', resource: invoice });
    expect(res.status).toBe(200);
    expect(sink.lines).toHaveLength(0);
    await auditSettled();
    expect(sink.lines).toHaveLength(1);
  });

  it('writes the lines of one turn in one write, and each of them', async () => {
    const writes: string[] = [];
    const audit = new AuditLog({ sink: { write: (lines) => void writes.push(lines) } });
    const { decisions } = await buildTestApp({ recorder: audit });
    const ask = (id: string) =>
      decisions.decide({ subject: { claims: accountant.properties, id }, action: { name: 'read', properties: {} }, resource: invoice, context: {} });
    // A drain leaves the rest of its queue to the next turn once it has run 5 ms, which a pause of
    // the process (a busy machine, a garbage collection) can make happen between two lines: each
    // try must write every line, whole and in order, and one of up to five in a single write.
    const inOneWrite: boolean[] = [];
    for (let attempt = 0; attempt < 5 && !inOneWrite.includes(true); attempt += 1) {
      writes.length = 0;
      const ids = [1, 2, 3].map((n) => `u-${String(attempt)}-${String(n)}`);
      await Promise.all(ids.map(ask));
      let seen: number;
      do {
        seen = writes.length;
        await auditSettled();
      } while (writes.length !== seen);
      expect(writes.every((chunk) => chunk.endsWith('\n'))).toBe(true);
      const lines = writes.join('').split('\n').slice(0, -1);
      expect(lines.map((l) => (JSON.parse(l) as { subject: { id: string } }).subject.id)).toEqual(ids);
      inOneWrite.push(writes.length === 1);
    }
    expect(inOneWrite).toContain(true);
  });

  it('answers as usual when the sink throws, and counts and reports the loss', async () => {
    const metrics = new PdpMetrics();
    const warnings: Record<string, unknown>[] = [];
    const onError = auditErrorReporter({ metrics, warn: (fields) => void warnings.push(fields) });
    const audit = new AuditLog({ sink: { write: () => { throw new Error('disk on fire'); } }, onError });
    const { app } = await buildTestApp({ recorder: telemetryRecorder(metrics, audit), app: { metrics } });
    for (const id of ['r-1', 'r-2']) {
      const res = await postJson(app, '/decide', { subject: accountant, action: 'read', resource: invoice }, { 'x-request-id': id });
      expect(res.status).toBe(200);
      expect((await readJson(res)).decision).toBe('permit');
    }
    // Every queued line now: a turn's drain may leave the second line to a later turn.
    audit.drain();
    const text = await metrics.registry.metrics();
    expect(sample(text, 'pdp_audit_errors_total')).toBe(2);
    expect(sample(text, 'pdp_decisions_total', { decision: 'permit', endpoint: 'decide', source: 'evaluated' })).toBe(2);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ requestId: 'r-1', suppressed: 0 });
  });

  it('counts the lines of the writes the sink refused, not those of a write it took before', async () => {
    const metrics = new PdpMetrics();
    const onError = auditErrorReporter({ metrics, warn: () => undefined });
    const taken: string[] = [];
    const sink = {
      write: (lines: string) => {
        if (taken.length > 0) throw new Error('disk full');
        taken.push(...lines.split(/(?<=\n)/));
      },
    };
    const audit = new AuditLog({ sink, onError });
    const { app } = await buildTestApp({ recorder: telemetryRecorder(metrics, audit), app: { metrics } });
    // 100 lines of about 3.5 KB: written in writes of about 64K characters, the first one taken.
    const subject = { type: 'user', id: 'u-acc', properties: accountant.properties };
    const evaluations = Array.from({ length: 100 }, (_, i) => ({ resource: { ...invoice, id: `inv-${String(i)}` } }));
    const res = await postJson(app, '/access/v1/evaluations', { subject, action: { name: 'read' }, context: { note: 'x'.repeat(3000) }, evaluations });
    expect(res.status).toBe(200);
    audit.drain();
    expect(taken.length).toBeGreaterThan(0);
    expect(taken.length).toBeLessThan(100);
    expect(sample(await metrics.registry.metrics(), 'pdp_audit_errors_total')).toBe(100 - taken.length);
  });

  it('answers as usual on every decision endpoint when the recorder itself throws', async () => {
    const { app } = await buildTestApp({ recorder: { record: () => { throw new Error('recorder broke'); } } });
    const decided = await postJson(app, '/decide', { subject: accountant, action: 'read', resource: invoice });
    expect(decided.status).toBe(200);
    expect((await readJson(decided)).decision).toBe('permit');
    const subject = { type: 'user', ...accountant };
    const batch = await postJson(app, '/access/v1/evaluations', { subject, action: { name: 'read' }, evaluations: [{ resource: invoice }, { resource: 5 }] });
    expect(batch.status).toBe(200);
    expect((await readJson(batch)).evaluations).toEqual([{ decision: true }, { decision: false }]);
    const search = await postJson(app, '/access/v1/search/action', { subject, resource: invoice });
    expect(search.status).toBe(200);
    expect((await readJson(search)).results).toEqual([{ name: 'read' }]);
  });

  it('masks a namespaced claim named in brackets, and only that key', async () => {
    const claim = 'https://invoice.example.com/email';
    const { app, sink } = await buildObservedApp({ audit: { redact: [`subject.properties["${claim}"]`] } });
    const subject = { ...accountant, properties: { ...accountant.properties, [claim]: 'alice@secret.example', https: { '//invoice': 'kept' } } };
    await postJson(app, '/decide', { subject, action: 'read', resource: invoice });
    const [entry] = await auditEntries(sink);
    expect((entry?.['subject'] as { properties: Record<string, unknown> }).properties).toMatchObject({ [claim]: '[REDACTED]', https: { '//invoice': 'kept' } });
    expect(JSON.stringify(entry)).not.toContain('alice@secret.example');
  });

  it('masks the key named "*" for ["*"], where .* masks every key', async () => {
    const context = { '*': 'star-secret', ip: '203.0.113.9' };
    const logged = async (path: string) => {
      const { app, sink } = await buildObservedApp({ audit: { redact: [path] } });
      await postJson(app, '/decide', { subject: accountant, action: 'read', resource: invoice, context });
      return (await auditEntries(sink))[0]?.['context'];
    };
    expect(await logged('context["*"]')).toEqual({ '*': '[REDACTED]', ip: '203.0.113.9' });
    expect(await logged('context.*')).toEqual({ '*': '[REDACTED]', ip: '[REDACTED]' });
  });

  it('takes a bracketed key holding a comma from AUDIT_REDACT whole, and masks it', async () => {
    const claim = 'https://ex.com/a,b/email';
    const config = loadConfig({ AUDIT_REDACT: `subject.properties["${claim}"], context["x,y"],resource.properties.email` });
    expect(config.AUDIT_REDACT).toEqual([`subject.properties["${claim}"]`, 'context["x,y"]', 'resource.properties.email']);
    const { app, sink } = await buildObservedApp({ audit: { redact: config.AUDIT_REDACT } });
    const subject = { ...accountant, properties: { ...accountant.properties, [claim]: 'alice@secret.example' } };
    await postJson(app, '/decide', { subject, action: 'read', resource: invoice, context: { 'x,y': '203.0.113.9' } });
    const [entry] = await auditEntries(sink);
    expect(entry).toMatchObject({ subject: { properties: { [claim]: '[REDACTED]' } }, context: { 'x,y': '[REDACTED]' } });
  });

  it('leaves a condition error\'s message, which can quote a masked value, out of the line', async () => {
    const docs = { id: 'docs', resource: 'doc', rules: [{ id: 'quota', effect: 'permit', actions: ['read'], condition: 'context.quota[subject.properties.email] > 0' }] };
    const { app, sink } = await buildObservedApp({ policyDir: await tempDir({ 'docs.json': docs }) });
    const res = await postJson(app, '/decide', { subject: accountant, action: 'read', resource: { type: 'doc', id: 'd1' }, context: { quota: {} } });
    const answer = await readJson(res);
    // The caller, who sent the value, is told the whole message.
    expect(JSON.stringify(answer['reasons'])).toContain('acc@example.com');
    const [entry] = await auditEntries(sink);
    expect(JSON.stringify(entry)).not.toContain('acc@example.com');
    expect(entry?.['reasons']).toEqual(expect.arrayContaining([expect.objectContaining({ code: 'condition_error', rule: 'quota', detail: expect.stringContaining('not logged') })]));
  });

  /** The shipped invoice policies with `entities` as their entity data. */
  const invoicesWith = async (entities: readonly object[]) => {
    const dir = await tempDir({ 'invoices.json': JSON.parse(await readFile(join(import.meta.dirname, '../policies/invoices.json'), 'utf8')) });
    await mkdir(join(dir, 'data'));
    await writeFile(join(dir, 'data', 'entities.json'), JSON.stringify({ entities }));
    return dir;
  };

  it('leaves out a reason\'s message that quotes an id AUDIT_REDACT masks, and keeps it where none is masked', async () => {
    const dir = await invoicesWith([{ type: 'user', id: 'u-alice', aliases: ['alice@example.com'] }]);
    const misnamed = { subject: { id: 'Alice@Example.com', properties: { roles: ['accountant'] } }, action: 'read', resource: invoice };
    const logged = async (redact: string[]) => {
      const { app, sink } = await buildObservedApp({ policyDir: dir, audit: { redact } });
      const answer = await readJson(await postJson(app, '/decide', misnamed));
      // The caller, who sent the id, is told the whole message.
      expect(answer['reasons']).toEqual([{ code: 'entity_case_mismatch', detail: expect.stringContaining('"Alice@Example.com" of type "user"') }]);
      const [entry] = await auditEntries(sink);
      return entry;
    };
    for (const redact of [['subject.id'], ['subject.*']]) {
      const entry = await logged(redact);
      expect(JSON.stringify(entry).toLowerCase(), redact[0]).not.toContain('alice@example.com');
      expect(entry?.['reasons']).toEqual([{ code: 'entity_case_mismatch', detail: expect.stringContaining('not logged') }]);
    }
    expect((await logged(['subject.properties.email']))?.['reasons']).toEqual([{ code: 'entity_case_mismatch', detail: expect.stringContaining('"Alice@Example.com" of type "user"') }]);
  });

  it.each([
    ['subject.type', { subject: { id: 'Alice@Example.com', properties: { roles: ['accountant'] } }, resource: invoice }, '"user"'],
    ['resource.id', { subject: accountant, resource: { type: 'invoice', id: 'inv-paid' } }, 'inv-paid'],
    ['resource.type', { subject: accountant, resource: { type: 'invoice', id: 'inv-paid' } }, '"invoice"'],
  ] as const)('leaves out the message of entity_case_mismatch where AUDIT_REDACT masks %s, which it quotes', async (redact, question, secret) => {
    const dir = await invoicesWith([
      { type: 'user', id: 'u-alice', aliases: ['alice@example.com'] },
      { type: 'invoice', id: 'INV-PAID' },
    ]);
    const { app, sink } = await buildObservedApp({ policyDir: dir, audit: { redact: [redact] } });
    const answer = await readJson(await postJson(app, '/decide', { action: 'read', ...question }));
    // The caller, who sent the value, is told the whole message.
    expect(answer['reasons']).toEqual([{ code: 'entity_case_mismatch', detail: expect.stringContaining(secret) }]);
    const [entry] = await auditEntries(sink);
    expect(JSON.stringify(entry)).not.toContain(secret);
    expect(entry?.['reasons']).toEqual([{ code: 'entity_case_mismatch', detail: expect.stringContaining('not logged') }]);
  });

  it.each([
    ['no_applicable_rule', 'action.name', { action: 'export-ledger', resource: invoice }, 'export-ledger'],
    ['no_applicable_rule', 'resource.type', { action: 'export-ledger', resource: invoice }, '"invoice"'],
    ['action_case_mismatch', 'action.name', { action: 'Read', resource: invoice }, '"Read"'],
    ['action_case_mismatch', 'resource.type', { action: 'Read', resource: invoice }, '"invoice"'],
    ['unknown_resource_type', 'resource.type', { action: 'read', resource: { type: 'payslip', id: 'p-1' } }, 'payslip'],
  ] as const)('leaves out the message of %s where AUDIT_REDACT masks %s, which it quotes', async (code, redact, question, secret) => {
    const { app, sink } = await buildObservedApp({ audit: { redact: [redact] } });
    const answer = await readJson(await postJson(app, '/decide', { subject: accountant, ...question }));
    // The caller, who sent the value, is told the whole message.
    expect(answer['reasons']).toEqual([{ code, detail: expect.stringContaining(secret) }]);
    const [entry] = await auditEntries(sink);
    expect(JSON.stringify(entry)).not.toContain(secret);
    expect(entry?.['reasons']).toEqual([{ code, detail: expect.stringContaining('not logged') }]);
  });

  it('answers as usual when the error reporter itself throws', async () => {
    const audit = new AuditLog({
      sink: { write: () => { throw new Error('sink down'); } },
      onError: () => { throw new Error('reporter down'); },
    });
    const { app } = await buildTestApp({ recorder: audit });
    const res = await postJson(app, '/decide', { subject: accountant, action: 'read', resource: invoice });
    expect(res.status).toBe(200);
    await auditSettled();
  });

  describe('to a file', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'pdp-audit-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('appends the lines to AUDIT_LOG_FILE', async () => {
      const file = join(dir, 'audit.log');
      const errors: unknown[] = [];
      const audit = new AuditLog({ sink: auditDestination(file, (e) => void errors.push(e)) });
      const { app } = await buildTestApp({ recorder: audit });
      await postJson(app, '/decide', { subject: accountant, action: 'read', resource: invoice }, { 'x-request-id': 'file-1' });
      await postJson(app, '/decide', { subject: accountant, action: 'delete', resource: invoice }, { 'x-request-id': 'file-2' });
      await new Promise((resolve) => setTimeout(resolve, 50));
      await audit.close();
      const lines = (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.map((l) => [l.requestId, l.decision])).toEqual([['file-1', 'permit'], ['file-2', 'deny']]);
      expect(errors).toEqual([]);
    });

    it('writes every line of batches of any size and characters, in order', async () => {
      const file = join(dir, 'batches.log');
      const errors: unknown[] = [];
      const audit = new AuditLog({ sink: auditDestination(file, (e) => void errors.push(e)) });
      const { app } = await buildTestApp({ recorder: audit });
      // One evaluations request makes its decisions in one turn, one batch of lines for the sink:
      // from a few hundred bytes to beyond a whole chunk, with characters of 1 to 4 bytes (the
      // second batch is under a chunk in characters, over it in bytes).
      const batches: [count: number, notes: string[]][] = [
        [1, ['plain']],
        [30, ['請'.repeat(600)]],
        [100, ['Grüße', '🧾'.repeat(300), 'plain', '請'.repeat(600)]],
        [3, ['Grüße']],
      ];
      const notes: string[] = [];
      for (const [count, choices] of batches) {
        const evaluations = Array.from({ length: count }, (_, i) => {
          const note = choices[i % choices.length] ?? '';
          return { context: { n: notes.push(note) - 1, note } };
        });
        const res = await postJson(app, '/access/v1/evaluations', {
          subject: { type: 'user', id: 'u-acc', properties: accountant.properties },
          action: { name: 'read' },
          resource: { type: 'invoice', id: 'i', properties: invoice.properties },
          evaluations,
        });
        expect(res.status).toBe(200);
        await auditSettled();
      }
      await audit.close();
      const lines = (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { context: { n: number; note: string } });
      expect(lines.map((l) => l.context.n)).toEqual(notes.map((_, i) => i));
      expect(lines.map((l) => l.context.note)).toEqual(notes);
      expect(errors).toEqual([]);
    });

    it('closes only once every line is written, in order, though a write was in flight', async () => {
      const numbered = (from: number, count: number, pad: number) =>
        Array.from({ length: count }, (_, i) => `${JSON.stringify({ n: from + i, pad: 'x'.repeat(pad) })}\n`).join('');
      // Each round races a write in flight against the close; one round alone could pass by luck.
      for (let round = 0; round < 20; round += 1) {
        const file = join(dir, `in-flight-${round}.log`);
        const errors: unknown[] = [];
        const sink = auditDestination(file, (e) => void errors.push(e));
        await new Promise((resolve) => setTimeout(resolve, 10));
        sink.write(numbered(0, 100, 2000));
        sink.write(numbered(100, 3, 10));
        await sink.end?.();
        const ns = (await readFile(file, 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as { n: number }).n);
        expect(ns).toEqual(Array.from({ length: 103 }, (_, i) => i));
        expect(errors).toEqual([]);
        // Once closed, a line is refused and reported, never written.
        expect(() => sink.write(numbered(103, 1, 0))).toThrow(AuditUnavailableError);
      }
    });

    // 100 lines a write go past a chunk, and are measured; a line a write is added to the chunk.
    it.each([['100 lines', 100], ['one line', 1]])('drops and counts each line beyond 16 MiB unwritten, and stops when the reader goes: %s a write', async (_, perWrite) => {
      // A pipe whose reader never reads: writes stall once it is full, as behind a stuck collector.
      const pipe = join(dir, `stuck-${perWrite}.pipe`);
      execFileSync('mkfifo', [pipe]);
      const reader = openSync(pipe, constants.O_RDONLY | constants.O_NONBLOCK);
      // Each report says how many lines it lost.
      const errors: [error: unknown, lines: number][] = [];
      const sink = auditDestination(pipe, (e, lines) => void errors.push([e, lines]));
      await new Promise((resolve) => setTimeout(resolve, 50));
      const line = `${JSON.stringify({ log: 'audit', pad: 'x'.repeat(1000) })}\n`;
      const lines = 25_000;
      for (let written = 0; written < lines; written += 100) {
        for (let i = 0; i < 100; i += perWrite) sink.write(line.repeat(perWrite));
        await auditSettled();
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(errors.every(([e]) => String(e).includes('lines dropped'))).toBe(true);
      const dropped = errors.reduce((sum, [, n]) => sum + n, 0);
      // All but what 16 MiB holds, give or take the pipe's own buffer and one chunk.
      const kept = (16 * 1024 * 1024) / line.length;
      const slack = (128 * 1024) / line.length + 100;
      expect(dropped).toBeGreaterThan(lines - kept - slack);
      expect(dropped).toBeLessThan(lines - kept + slack);
      closeSync(reader);
      await vi.waitFor(() => expect(errors.some(([e]) => /EPIPE/.test(String(e)))).toBe(true), { timeout: 5_000 });
      // The lines still held when the reader went are counted with the failure.
      const [, held] = errors.find(([e]) => /EPIPE/.test(String(e))) ?? [];
      expect(held).toBeGreaterThan(kept - slack);
      expect(() => sink.write(line)).toThrow(AuditUnavailableError);
    });

    it('keeps answering when the file cannot be opened, reports it once and counts each line lost', async () => {
      const metrics = new PdpMetrics();
      const warnings: Record<string, unknown>[] = [];
      const onError = auditErrorReporter({ metrics, warn: (fields) => void warnings.push(fields), intervalMs: 0 });
      const audit = new AuditLog({
        // Lines written before the open fails are lost with it; those after are refused one by one.
        sink: auditDestination(join(dir, 'no-such-dir', 'audit.log'), (e, lines) => onError(e, undefined, lines)),
        onError,
      });
      const { app } = await buildTestApp({ recorder: telemetryRecorder(metrics, audit) });
      for (let i = 0; i < 40; i += 1) {
        const res = await postJson(app, '/decide', { subject: accountant, action: 'read', resource: invoice, context: { pad: 'x'.repeat(200) } });
        expect(res.status).toBe(200);
        expect((await readJson(res)).decision).toBe('permit');
      }
      await auditSettled();
      await audit.close();
      expect(String(warnings[0]?.['err'])).toMatch(/ENOENT/);
      // One per line, not one more for the failed open.
      expect(sample(await metrics.registry.metrics(), 'pdp_audit_errors_total')).toBe(40);
    });
  });
});

describe('audit error reporting', () => {
  it('counts every loss but logs at most one warning a minute', () => {
    const metrics = new PdpMetrics();
    const warnings: Record<string, unknown>[] = [];
    let now = 0;
    const report = auditErrorReporter({ metrics, warn: (fields) => void warnings.push(fields), now: () => now });
    report(new Error('a'), 'r1');
    now = 30_000;
    report(new Error('b'), 'r2');
    report(new Error('c'), 'r3');
    now = 61_000;
    report(new Error('d'), 'r4');
    // The count starts again after each warning.
    now = 90_000;
    report(new Error('e'), 'r5');
    now = 122_000;
    report(new Error('f'), 'r6');
    expect(warnings.map((w) => [w.requestId, w.suppressed])).toEqual([['r1', 0], ['r4', 2], ['r6', 1]]);
  });

  it('counts the minute in elapsed time: a host clock stepped back does not silence the warnings until it catches up', async () => {
    const metrics = new PdpMetrics();
    const warnings: Record<string, unknown>[] = [];
    // Only Date is faked: timers and performance.now() run as they do, as NTP leaves them.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.UTC(2030, 0, 2) });
    try {
      const report = auditErrorReporter({ metrics, warn: (fields) => void warnings.push(fields), intervalMs: 50 });
      report(new Error('a'), 'r1');
      vi.setSystemTime(Date.UTC(2030, 0, 1));
      await new Promise((resolve) => setTimeout(resolve, 80));
      report(new Error('b'), 'r2');
    } finally {
      vi.useRealTimers();
    }
    expect(warnings.map((w) => w.requestId)).toEqual(['r1', 'r2']);
  });
});
