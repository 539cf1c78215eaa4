import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killLeftovers, processRef, waitUntilExited, type ProcessRef } from './helpers/exited.js';
import { holdRequest } from './helpers/raw-http.js';
import { spawnNode, type Spawned } from './helpers/spawned.js';

// A worker whose primary dies (kill -9, OOM killer) drains as on a stop, rather than being
// exited at once by node:cluster with the requests it holds.

const main = resolve(import.meta.dirname, '../dist/main.js');
const adminKey = 'cluster-test-admin-key-0123456789';
const base = {
  PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', POLICY_DIR: resolve(import.meta.dirname, '../policies'), POLICY_WATCH: 'false', NODE_ENV: 'test', PDP_ADMIN_KEYS: adminKey,
};

const accountant = JSON.stringify({
  subject: { id: 'u-acc', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } },
  action: 'read',
  resource: { type: 'invoice', id: 'i1', properties: { invoice_type: 'purchase', region: 'EU' } },
});

type Line = Record<string, unknown>;

let running: Spawned | undefined;
let workerRefs: ProcessRef[] = [];
afterEach(() => {
  if (running?.child.exitCode === null) running.child.kill('SIGKILL');
  running = undefined;
  killLeftovers(workerRefs);
  workerRefs = [];
});

describe('WORKERS=2: the primary killed', () => {
  it('has each worker answer the request it holds, then exit', async () => {
    running = spawnNode(main, { ...base, WORKERS: '2' });
    const workers = await running.waitFor((l) => l['msg'] === 'worker listening', 2);
    workerRefs = workers.map((w) => processRef(Number(w['pid'])));
    await running.waitFor((l) => l['msg'] === 'invoice-pdp listening', 2);
    const port = Number(workers[0]?.['port']);
    const inFlight = await holdRequest(port, '/decide', accountant);
    // An admin reload waiting on a worker that does not answer (stopped here): of two, on connections
    // of their own, one reaches the other worker, which asks the primary and waits.
    const [stopped, serving] = workers.map((w) => ({ id: w['worker'], pid: Number(w['pid']) }));
    process.kill(stopped?.pid ?? 0, 'SIGSTOP');
    const reloads = [0, 1].map(() => fetch(`http://127.0.0.1:${String(port)}/admin/policies/reload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, connection: 'close' },
      signal: AbortSignal.timeout(20_000),
    }));
    await running.waitFor((l) => l['msg'] === 'reloading the other workers\' policies' && l['worker'] === serving?.id);

    running.child.kill('SIGKILL');
    await running.exited;
    try {
      // The primary gone, it answers at once, without the others' results it can no longer learn.
      const reloaded = await Promise.race([Promise.any(reloads), new Promise<undefined>((r) => setTimeout(() => r(undefined), 5_000))]);
      expect(reloaded?.status).toBe(200);
      expect(await reloaded?.json()).not.toHaveProperty('workers');
    } finally {
      process.kill(stopped?.pid ?? 0, 'SIGCONT');
    }
    // The workers' log still arrives: their stderr is the primary's, inherited.
    const goneLine = (msg: string) => (l: Line) => l['msg'] === msg && l['reason'] === 'supervisor gone';
    await running.waitFor(goneLine('shutting down: draining connections'), 2, 10_000);
    // Before the fix, node:cluster exited each worker right after that line.
    await new Promise((r) => setTimeout(r, 300));
    inFlight.finish();
    const answer = await inFlight.response;
    expect(answer.status).toBe(200);
    expect(answer.headers['connection']).toBe('close');
    expect(JSON.parse(answer.body)).toMatchObject({ decision: 'permit' });

    await running.waitFor(goneLine('shut down: every request answered'), 2, 10_000);
    expect(await waitUntilExited(workerRefs, 10_000)).toEqual([]);
  }, 30_000);
});
