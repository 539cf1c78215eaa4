import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { docPolicy, tempDir, versionOf, writeFiles, type PolicyFiles } from './helpers/policy-dir.js';
import { startServer, type ServerProcess } from './helpers/server-process.js';

const adminKey = 'unread-files-test-admin-key-0123456789';

async function reload(server: ServerProcess): Promise<Record<string, unknown>> {
  const res = await fetch(`${server.url}/admin/policies/reload`, { method: 'POST', headers: { authorization: `Bearer ${adminKey}` } });
  return (await res.json()) as Record<string, unknown>;
}

const sizeOf = (path: string) => statSync(path, { throwIfNoEntry: false })?.size ?? 0;

let server: ServerProcess | undefined;
let writer: ChildProcess | undefined;
let dir: { path: string; remove: () => Promise<void> };
afterEach(async () => {
  writer?.kill();
  writer = undefined;
  await server?.stop();
  server = undefined;
  await dir.remove();
});

describe('files in the policy folders that no load reads (real server)', () => {
  it('a log and swap files written all along beside the policies do not fail a reload as files that kept changing', async () => {
    // Entity data enough for each attempt to take a while, during which the writer gets a turn.
    const entities = Array.from({ length: 5_000 }, (_, i) => ({ type: 'user', id: `u${i}`, properties: { team: 'a' } }));
    const state = (rule: string): PolicyFiles => ({ 'docs.json': docPolicy('docs', rule), 'data/u.json': { entities } });
    dir = await tempDir();
    await writeFiles(dir.path, state('v1'));
    server = await startServer({ POLICY_DIR: dir.path, POLICY_WATCH: 'false', PDP_ADMIN_KEYS: adminKey });
    const log = join(dir.path, 'notes.log');
    const writes = [`echo line >> ${log}`, `echo 1 > ${join(dir.path, '.docs.json.swp')}`, `echo 1 > ${join(dir.path, 'data', '.u.json.swp')}`];
    writer = spawn('sh', ['-c', `while :; do ${writes.join('; ')}; done`], { stdio: 'ignore' });
    // Writing steadily before the reload starts, so every attempt of it sees them change.
    while (sizeOf(log) < 1_000) await new Promise((done) => setTimeout(done, 10));
    await writeFiles(dir.path, state('v2'));
    expect(await reload(server)).toEqual(expect.objectContaining({ version: await versionOf(state('v2')), changed: true }));
  });
});

describe('a file in the policy folders that every load reads (real server)', () => {
  it('written all along, fails the reload as files that kept changing, and the last good set keeps serving', async () => {
    // As above, each attempt takes a while (longer here: every attempt must see a change); what
    // changes meanwhile is entity data the load reads.
    const entities = Array.from({ length: 20_000 }, (_, i) => ({ type: 'user', id: `u${i}`, properties: { team: 'a' } }));
    const state = (rule: string): PolicyFiles => ({ 'docs.json': docPolicy('docs', rule), 'data/u.json': { entities } });
    dir = await tempDir();
    await writeFiles(dir.path, state('v1'));
    server = await startServer({ POLICY_DIR: dir.path, POLICY_WATCH: 'false', PDP_ADMIN_KEYS: adminKey });
    const written = join(dir.path, 'data', 'w.json');
    const count = join(dir.path, 'writes.log');
    writer = spawn('sh', ['-c', `while :; do echo '{"entities":[]}' > ${written}; echo 1 >> ${count}; done`], { stdio: 'ignore' });
    while (sizeOf(count) < 1_000) await new Promise((done) => setTimeout(done, 10));
    await writeFiles(dir.path, state('v2'));
    expect(await reload(server)).toEqual(expect.objectContaining({
      status: 422,
      errors: [{ file: dir.path, path: '$', message: 'files kept changing while being read (3 attempts)' }],
    }));
    const res = await fetch(`${server.url}/admin/policies`, { headers: { authorization: `Bearer ${adminKey}` } });
    expect(((await res.json()) as { version: string }).version).toBe(await versionOf(state('v1')));
  });
});
