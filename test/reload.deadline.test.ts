import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadPolicyDir } from '../src/policy/load.js';
import { docPolicy, tempDir, writeFiles } from './helpers/policy-dir.js';
import { startServer, type ServerProcess } from './helpers/server-process.js';

const adminKey = 'deadline-test-admin-key-0123456789';
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

async function admin(server: ServerProcess, method: 'GET' | 'POST', path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.url}${path}`, { method, headers: { authorization: `Bearer ${adminKey}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/**
 * Lets every read blocked opening `fifo` go on (to an empty read), so the server can exit:
 * a thread stuck in open() keeps a Node process from exiting. Fails with ENXIO when none waits.
 */
function releaseReaders(fifo: string): void {
  try {
    closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch {
    return;
  }
}

let server: ServerProcess | undefined;
let dirs: { path: string; remove: () => Promise<void> }[] = [];
let fifo: string | undefined;
afterEach(async () => {
  if (fifo !== undefined) releaseReaders(fifo);
  await server?.stop();
  server = undefined;
  fifo = undefined;
  await Promise.all(dirs.map((d) => d.remove()));
  dirs = [];
});

describe('reload deadline (real server)', () => {
  it('fails a reload whose read never finishes, keeps the last good set, and lets later reloads run', async () => {
    const policies = await tempDir();
    const outside = await tempDir();
    dirs = [policies, outside];
    await writeFiles(policies.path, { 'docs.json': docPolicy('docs', 'v1') });
    server = await startServer({ POLICY_DIR: policies.path, PDP_ADMIN_KEYS: adminKey });
    const first = (await admin(server, 'GET', '/admin/policies')).body['version'];

    // Opening a FIFO for reading waits for a writer, which never comes.
    fifo = join(outside.path, 'ff');
    execFileSync('mkfifo', [fifo]);
    await symlink(fifo, join(policies.path, 'ff.json'));
    const started = Date.now();
    const hung = await admin(server, 'POST', '/admin/policies/reload');
    // Answered by the reload itself, before REQUEST_TIMEOUT_MS (5 s) would answer 503.
    expect(hung.status).toBe(422);
    expect(Date.now() - started).toBeLessThan(4_900);
    const timedOut = expect.objectContaining({ file: policies.path, message: expect.stringContaining('did not finish within 2000 ms') });
    expect(hung.body['errors']).toEqual([timedOut]);
    const state = (await admin(server, 'GET', '/admin/policies')).body;
    expect(state['version']).toBe(first);
    expect(state['lastReloadError']).toMatchObject({ issues: [timedOut] });

    // The FIFO read is still stuck; the next change loads all the same.
    await rm(join(policies.path, 'ff.json'));
    await writeFiles(policies.path, { 'docs.json': docPolicy('docs', 'v2') });
    const staging = await tempDir();
    dirs.push(staging);
    await writeFiles(staging.path, { 'docs.json': docPolicy('docs', 'v2') });
    const second = (await loadPolicyDir(staging.path)).version;
    const deadline = Date.now() + 10_000;
    let serving = (await admin(server, 'GET', '/admin/policies')).body;
    while (serving['version'] !== second && Date.now() < deadline) {
      await sleep(50);
      serving = (await admin(server, 'GET', '/admin/policies')).body;
    }
    expect(serving['version']).toBe(second);
    expect(serving['lastReloadError']).toBeNull();
  }, 20_000);
});
