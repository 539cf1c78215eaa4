import { copyFile, link, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultPolicyDir } from './helpers/app.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/policy-dir.js';
import { startServer, type ServerProcess } from './helpers/server-process.js';

// One load reads at most 64 MiB of policy, entity data and test files together: four files at
// the 16 MiB each may hold. Tens of such files in data/ ran a serving process out of memory on
// a reload. The files here are one file of 16 MiB linked under several names, so the test writes
// 16 MiB whatever the load reads.

const adminKey = 'total-bytes-test-admin-key-0123456789';
const fileBytes = 16 * 1024 * 1024;
const loadBytes = 64 * 1024 * 1024;

let server: ServerProcess | undefined;
const removals: (() => Promise<void>)[] = [];
afterEach(async () => {
  await server?.stop();
  server = undefined;
  await Promise.all(removals.splice(0).map((remove) => remove()));
});

/** A fresh directory holding the shipped invoice policies, removed after the test; and that file's size. */
async function invoiceDir(): Promise<{ dir: string; policyBytes: number }> {
  const { path, remove } = await tempDir('pdp-total-');
  removals.push(remove);
  await copyFile(join(defaultPolicyDir, 'invoices.json'), join(path, 'invoices.json'));
  return { dir: path, policyBytes: (await stat(join(path, 'invoices.json'))).size };
}

/** A valid `json` padded with spaces to 16 MiB, the most one file may hold, at `dir/.big`. */
async function bigFile(dir: string, json: unknown): Promise<string> {
  const text = JSON.stringify(json);
  const path = join(dir, '.big');
  await writeFile(path, text + ' '.repeat(fileBytes - Buffer.byteLength(text)));
  return path;
}

/** Links `source` into `dir` under each of `names` (`data/a.json`). */
async function linkAs(source: string, dir: string, names: readonly string[]): Promise<void> {
  for (const name of names) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await link(source, join(dir, name));
  }
}

/** The message of the file that takes a load of `total` bytes past the bound. */
const overTheLoad = (total: number) => `cannot read: with it this load would read ${total} bytes, over the ${loadBytes} one load reads (policy, entity data and test files together)`;

const reader = { subject: { id: 'acc-1', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } }, action: 'read', resource: { type: 'invoice', properties: { region: 'EU' } } };

describe('the bytes one load reads, all files together', () => {
  it('pdp validate and pdp test refuse the data file that takes the load past 64 MiB, naming it and the total', async () => {
    const { dir, policyBytes } = await invoiceDir();
    const data = await bigFile(dir, { entities: [] });
    // Three files of 16 MiB beside the policies load.
    await linkAs(data, dir, ['data/a.json', 'data/b.json', 'data/c.json']);
    expect((await runCli(['validate', dir])).code).toBe(0);
    await linkAs(data, dir, ['data/d.json']);
    for (const command of ['validate', 'test']) {
      const run = await runCli([command, dir]);
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(`error data/d.json $: ${overTheLoad(policyBytes + 4 * fileBytes)}\ninvalid: 1 problem(s)\n`);
    }
  });

  it('counts the test files in the same load', async () => {
    const { dir, policyBytes } = await invoiceDir();
    await linkAs(await bigFile(dir, { entities: [] }), dir, ['data/a.json', 'data/b.json', 'data/c.json']);
    const tests = join(dir, 'tests');
    await mkdir(tests);
    await linkAs(await bigFile(tests, { cases: [{ name: 'reads', request: reader, expect: { decision: 'permit' } }] }), dir, ['tests/reads.json']);
    const run = await runCli(['validate', dir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`error tests/reads.json $: ${overTheLoad(policyBytes + 4 * fileBytes)}\ninvalid: 1 problem(s)\n`);
  });

  it('refuses such a reload on a serving process, which goes on with the last good set', async () => {
    const { dir, policyBytes } = await invoiceDir();
    server = await startServer({ POLICY_DIR: dir, PDP_ADMIN_KEYS: adminKey, POLICY_WATCH: 'false' });
    const ready = async () => (await (await fetch(`${server?.url ?? ''}/readyz`)).json()) as { policies: { version: string } };
    const serving = (await ready()).policies.version;
    await linkAs(await bigFile(dir, { entities: [] }), dir, ['data/a.json', 'data/b.json', 'data/c.json', 'data/d.json']);

    const res = await fetch(`${server.url}/admin/policies/reload`, { method: 'POST', headers: { authorization: `Bearer ${adminKey}` } });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { errors: unknown }).errors).toEqual([{ file: 'data/d.json', path: '$', message: overTheLoad(policyBytes + 4 * fileBytes) }]);
    expect((await ready()).policies.version).toBe(serving);
    const decided = await fetch(`${server.url}/decide`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(reader) });
    expect(await decided.json()).toMatchObject({ decision: 'permit', policyVersion: serving });
  }, 60_000);
});
