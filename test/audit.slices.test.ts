import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, writeFiles } from './helpers/policy-dir.js';
import { spawnNode, type Spawned } from './helpers/spawned.js';
import { defaultPolicyDir } from './helpers/app.js';
import { readFile } from 'node:fs/promises';

let dir: Awaited<ReturnType<typeof tempDir>>;
let server: Spawned;
let url: string;

beforeAll(async () => {
  dir = await tempDir('pdp-audit-slices-');
  const invoices = Array.from({ length: 2000 }, (_, i) => ({ type: 'invoice', id: `inv-${String(i).padStart(5, '0')}`, properties: { invoice_type: 'purchase', region: i % 2 === 0 ? 'US' : 'EU' } }));
  await writeFiles(dir.path, { 'invoices.json': await readFile(resolve(defaultPolicyDir, 'invoices.json'), 'utf8'), 'data/invoices.json': { entities: invoices } });
  // The default audit log, on stdout (ignored here): a line per decision.
  server = spawnNode(resolve(import.meta.dirname, '../dist/main.js'), { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', POLICY_DIR: dir.path, POLICY_WATCH: 'false', WORKERS: '1' });
  const [listening] = await server.waitFor((line) => line['msg'] === 'invoice-pdp listening');
  url = `http://127.0.0.1:${String(listening?.['port'])}`;
});

afterAll(async () => {
  if (server.child.exitCode === null) server.child.kill('SIGKILL');
  await dir.remove();
});

describe('the audit lines of a large answer', () => {
  it('are written a slice at a time: a search page of 1,000 decisions with a 1 MB context does not hold up /healthz', async () => {
    const context = Object.fromEntries(Array.from({ length: 62 }, (_, i) => [`k${String(i)}`, 'y'.repeat(16_000)]));
    const body = { subject: { type: 'user', id: 'alice', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } }, action: { name: 'read' }, resource: { type: 'invoice' }, context, page: { limit: 1000 } };
    let slowest = 0;
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const started = performance.now();
        await (await fetch(`${url}/healthz`)).arrayBuffer();
        slowest = Math.max(slowest, performance.now() - started);
        await new Promise((next) => setTimeout(next, 5));
      }
    })();
    const res = await fetch(`${url}/access/v1/search/resource`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(((await res.json()) as { results: unknown[] }).results).toHaveLength(1000);
    // The lines are built after the answer: keep polling while they are.
    await new Promise((settled) => setTimeout(settled, 3000));
    polling = false;
    await poll;
    // 29 ms here; 5.8 s when the 1,000 lines (1 GB of text) were built in one go.
    expect(slowest).toBeLessThan(1000);
  }, 30_000);
});
