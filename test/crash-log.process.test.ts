import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnNode, type Spawned } from './helpers/spawned.js';
import { tempDir } from './helpers/tmp.js';

const main = resolve(import.meta.dirname, '../dist/main.js');
const fault = resolve(import.meta.dirname, 'fixtures/fault-on-signal.mjs');
const decideBody = JSON.stringify({
  subject: { id: 'alice', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } },
  action: 'read',
  resource: { type: 'invoice', properties: { region: 'EU' } },
});

let running: Spawned | undefined;
afterEach(() => {
  if (running?.child.exitCode === null) running.child.kill('SIGKILL');
  running = undefined;
});

describe('a fault no code path handles', () => {
  it.each([
    ['a thrown error', 'exception', 'uncaughtException', 'injected exception'],
    ['a rejected promise nobody handles', 'rejection', 'unhandledRejection', 'injected rejection'],
  ])('stops the process with exit 1 and says so in one fatal log line, the audit lines written: %s', async (_, kind, origin, message) => {
    const auditFile = join(await tempDir(), 'audit.log');
    running = spawnNode(main, {
      PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', POLICY_DIR: resolve(import.meta.dirname, '../policies'),
      NODE_OPTIONS: `--import=${fault}`, INJECTED_FAULT: kind, AUDIT_LOG_FILE: auditFile,
    });
    // Within the test's 20 s, so a slow start fails with the log so far.
    const [listening] = await running.waitFor((l) => l['msg'] === 'invoice-pdp listening', 1, 15_000);
    // A decision whose audit line waits in memory (up to a second) for the next write.
    const res = await fetch(`http://127.0.0.1:${String(listening?.['port'])}/decide`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: decideBody });
    const { decisionId } = (await res.json()) as { decisionId: string };
    running.child.kill('SIGUSR2');
    expect(await running.exited).toBe(1);
    expect(await readFile(auditFile, 'utf8')).toContain(`"decisionId":"${decisionId}"`);
    const fatal = running.lines.filter((l) => l['level'] === 60);
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toMatchObject({ msg: 'stopping: an error no code path handled', origin, err: { type: 'Error', message } });
    expect(String((fatal[0]?.['err'] as { stack?: unknown }).stack)).toContain('fault-on-signal.mjs');
    // Nothing but JSON lines: no bare stack trace.
    expect(running.lines.filter((l) => 'text' in l)).toEqual([]);
  });

  it('writes out at exit the audit lines of a large answer that were still waiting to be built', async () => {
    const auditFile = join(await tempDir(), 'audit.log');
    running = spawnNode(main, {
      PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', POLICY_DIR: resolve(import.meta.dirname, '../policies'),
      NODE_OPTIONS: `--import=${fault}`, INJECTED_FAULT: 'exception', AUDIT_LOG_FILE: auditFile, AUDIT_MAX_REQUEST_BYTES: String(64 * 1024 * 1024),
    });
    const [listening] = await running.waitFor((l) => l['msg'] === 'invoice-pdp listening', 1, 15_000);
    // 100 lines of 8,000 context members each (10 MB, within the 16 MiB the log holds): about
    // 1 ms apiece to build, 5 ms of them a turn, so most still wait when the fault comes.
    const context = Object.fromEntries(Array.from({ length: 8 }, (_, g) => [`g${String(g)}`, Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${String(i)}`, i]))]));
    const subject = { type: 'user', id: 'alice', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } };
    const evaluations = Array.from({ length: 100 }, (_, i) => ({ resource: { type: 'invoice', id: `inv-${String(i)}`, properties: { region: 'EU' } } }));
    const res = await fetch(`http://127.0.0.1:${String(listening?.['port'])}/access/v1/evaluations`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ subject, action: { name: 'read' }, context, evaluations }),
    });
    expect(res.status).toBe(200);
    running.child.kill('SIGUSR2');
    await res.arrayBuffer();
    expect(await running.exited).toBe(1);
    const ids = (await readFile(auditFile, 'utf8')).trimEnd().split('\n').map((l) => (JSON.parse(l) as { resource: { id: string } }).resource.id);
    expect(new Set(ids)).toEqual(new Set(evaluations.map((item) => item.resource.id)));
  });
});
