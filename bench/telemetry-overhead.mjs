// What recording a decision costs: DecisionService.decide in process, without a recorder,
// with metrics, with the audit log (to a null sink, to a file) and with both.
// Run after `npm run build`: node bench/telemetry-overhead.mjs
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { DecisionService } from '../dist/decision/service.js';
import { loadPolicyDir } from '../dist/policy/load.js';
import { PolicyStore } from '../dist/policy/store.js';
import { AuditLog } from '../dist/telemetry/audit.js';
import { auditDestination } from '../dist/telemetry/audit-destination.js';
import { PdpMetrics } from '../dist/telemetry/metrics.js';
import { telemetryRecorder } from '../dist/telemetry/recorder.js';

const policies = new PolicyStore(await loadPolicyDir(join(import.meta.dirname, '../policies')));
const request = {
  subject: { claims: { roles: ['accountant'], scope: 'invoice.read', region: 'EU', email: 'a@example.com' }, id: 'alice' },
  action: { name: 'read', properties: {} },
  resource: { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'EU' } },
  context: {},
  meta: { endpoint: 'decide', requestId: '0f8e2c1a-1111-2222-3333-444455556666' },
};
const dir = mkdtempSync(join(tmpdir(), 'pdp-bench-'));
const nullSink = { write() {} };
const failed = (error) => {
  throw error;
};
const variants = {
  'no recorder': undefined,
  metrics: telemetryRecorder(new PdpMetrics()),
  'audit (null sink)': new AuditLog({ sink: nullSink }),
  'metrics + audit (null)': telemetryRecorder(new PdpMetrics(), new AuditLog({ sink: nullSink })),
  'metrics + audit (file)': telemetryRecorder(new PdpMetrics(), new AuditLog({ sink: auditDestination(join(dir, 'audit.log'), failed) })),
};
const rounds = 25;
const perRound = 20_000;
const concurrency = 100;
const best = {};
for (let round = 0; round < rounds; round += 1) {
  for (const [name, recorder] of Object.entries(variants)) {
    const service = new DecisionService({ policies, tokens: undefined, recorder });
    const start = process.hrtime.bigint();
    for (let i = 0; i < perRound; i += concurrency) {
      await Promise.all(Array.from({ length: concurrency }, () => service.decide(request)));
      await nextTurn();
    }
    const ns = Number(process.hrtime.bigint() - start) / perRound;
    best[name] = Math.min(best[name] ?? Infinity, ns);
  }
}
for (const [name, ns] of Object.entries(best)) console.log(`${name.padEnd(24)} ${(ns / 1000).toFixed(2)} µs/decision (best of ${rounds})`);
rmSync(dir, { recursive: true, force: true });
