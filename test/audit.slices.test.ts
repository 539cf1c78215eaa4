import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultPolicyDir } from './helpers/app.js';
import { tempDir, writeFiles } from './helpers/policy-dir.js';
import { spawnNode, type Spawned } from './helpers/spawned.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
const servers: Spawned[] = [];

beforeAll(async () => {
  dir = await tempDir('pdp-audit-slices-');
  const invoices = Array.from({ length: 2000 }, (_, i) => ({ type: 'invoice', id: `inv-${String(i).padStart(5, '0')}`, properties: { invoice_type: 'purchase', region: i % 2 === 0 ? 'US' : 'EU' } }));
  await writeFiles(dir.path, { 'invoices.json': await readFile(resolve(defaultPolicyDir, 'invoices.json'), 'utf8'), 'data/invoices.json': { entities: invoices } });
});

afterAll(async () => {
  for (const server of servers) if (server.child.exitCode === null) server.child.kill('SIGKILL');
  await dir.remove();
});

async function serve(env: Record<string, string>): Promise<string> {
  const server = spawnNode(resolve(import.meta.dirname, '../dist/main.js'), { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', POLICY_DIR: dir.path, POLICY_WATCH: 'false', WORKERS: '1', ...env });
  servers.push(server);
  const [listening] = await server.waitFor((line) => line['msg'] === 'invoice-pdp listening');
  return `http://127.0.0.1:${String(listening?.['port'])}`;
}

/** A search page of 1,000 hits (2,000 decisions) whose request carries a 1 MB context; resolves once the audit lines have had 3 s, with the longest /healthz wait meanwhile. */
async function searchPage(url: string): Promise<number> {
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
  return slowest;
}

describe('the audit lines of a large answer', () => {
  it('are written a slice at a time: 1 GB of lines does not hold up /healthz', async () => {
    // A 1 GiB budget: the first 1,000 or so lines whole, on stdout (ignored here).
    const slowest = await searchPage(await serve({ AUDIT_MAX_REQUEST_BYTES: String(1024 * 1024 * 1024) }));
    // 20-60 ms here, up to 0.7 s on a machine at a load of 17, where /healthz waits for a core
    // too; 3.5-5.8 s when these lines (1 GB of text) were built in one go, more on a loaded one.
    expect(slowest).toBeLessThan(1_500);
  }, 30_000);

  it('stay within the request budget: four lines carry the 1 MB context, the other 1,996 leave it out', async () => {
    const file = resolve(dir.path, 'audit.log');
    const slowest = await searchPage(await serve({ AUDIT_LOG_FILE: file }));
    const text = await readFile(file, 'utf8');
    const lines = text.trimEnd().split('\n').map((line) => JSON.parse(line) as { context?: unknown; erased?: string[] });
    // Every candidate up to the 1,000th hit: 2,000 decisions.
    expect(lines).toHaveLength(2000);
    expect(lines.findIndex((line) => line.erased !== undefined)).toBe(4);
    expect(lines.slice(4).every((line) => line.context === undefined && line.erased?.includes('context') === true)).toBe(true);
    // 2 GB of lines without the budget.
    expect(Buffer.byteLength(text)).toBeLessThan(6 * 1024 * 1024);
    expect(slowest).toBeLessThan(1_500);
  }, 30_000);
});
