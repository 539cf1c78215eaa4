import { execFileSync } from 'node:child_process';
import { rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadPolicyDir } from '../src/policy/load.js';
import { docPolicy, tempDir, writeFiles } from './helpers/policy-dir.js';
import { startServer, type ServerProcess } from './helpers/server-process.js';

const adminKey = 'special-files-test-admin-key-0123456789';

async function admin(server: ServerProcess, method: 'GET' | 'POST', path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.url}${path}`, { method, headers: { authorization: `Bearer ${adminKey}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

let server: ServerProcess | undefined;
let dirs: { path: string; remove: () => Promise<void> }[] = [];
afterEach(async () => {
  await server?.stop();
  server = undefined;
  await Promise.all(dirs.map((d) => d.remove()));
  dirs = [];
});

describe('files that are not regular files (real server)', () => {
  it('refuses a FIFO or a device linked into the directory at once, keeps the last good set, and loads the next change', async () => {
    const policies = await tempDir();
    const outside = await tempDir();
    dirs = [policies, outside];
    await writeFiles(policies.path, { 'docs.json': docPolicy('docs', 'v1') });
    server = await startServer({ POLICY_DIR: policies.path, PDP_ADMIN_KEYS: adminKey });
    const first = (await admin(server, 'GET', '/admin/policies')).body['version'];

    // Reading a FIFO waits for a writer that never comes; /dev/zero never ends. Either would
    // hold the reload queue (and a thread, and the process at exit) for ever.
    const fifo = join(outside.path, 'ff');
    execFileSync('mkfifo', [fifo]);
    for (const [name, target] of [['ff.json', fifo], ['zero.json', '/dev/zero']] as const) {
      await symlink(target, join(policies.path, name));
      const started = Date.now();
      const refused = await admin(server, 'POST', '/admin/policies/reload');
      expect(refused.status).toBe(422);
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(refused.body['errors']).toEqual([expect.objectContaining({ file: name, path: '$', message: expect.stringContaining('not a regular file') })]);
      expect((await admin(server, 'GET', '/admin/policies')).body['version']).toBe(first);
      await rm(join(policies.path, name));
    }

    await writeFiles(policies.path, { 'docs.json': docPolicy('docs', 'v2') });
    const staging = await tempDir();
    dirs.push(staging);
    await writeFiles(staging.path, { 'docs.json': docPolicy('docs', 'v2') });
    const second = (await loadPolicyDir(staging.path)).version;
    const reloaded = await admin(server, 'POST', '/admin/policies/reload');
    expect(reloaded.status).toBe(200);
    expect(reloaded.body['version']).toBe(second);
    expect((await admin(server, 'GET', '/admin/policies')).body['lastReloadError']).toBeNull();
  }, 20_000);
});

describe('a file longer than its size said (real server)', () => {
  it('reads one whose size reads as 0 in growing chunks, not a byte at a time', async () => {
    const policies = await tempDir();
    dirs = [policies];
    await writeFiles(policies.path, { 'docs.json': docPolicy('docs', 'v1') });
    // A /proc file's size reads as 0 whatever it holds, as a file being written may still be at
    // the stat: 400 kB of the server's own environment, which took over 10 s a byte at a time.
    server = await startServer({ POLICY_DIR: policies.path, POLICY_WATCH: 'false', PDP_ADMIN_KEYS: adminKey, PADDING: 'x'.repeat(100_000), PADDING2: 'x'.repeat(100_000), PADDING3: 'x'.repeat(100_000), PADDING4: 'x'.repeat(100_000) });
    await symlink('/proc/self/environ', join(policies.path, 'environ.json'));
    const started = Date.now();
    const refused = await admin(server, 'POST', '/admin/policies/reload');
    // Tens of milliseconds in growing chunks: a bound well under the 10 s leaves a loaded host room.
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(refused.status).toBe(422);
    // A variable's name where a JSON value should start: read to its end, then refused for what it holds.
    expect(refused.body['errors']).toEqual([expect.objectContaining({ file: 'environ.json', path: '$', message: expect.stringContaining('not valid JSON at line 1, column 1') })]);
  }, 30_000);
});
