import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { mkdir, rm, rmdir, symlink, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
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
/** Stops the changes `serveWhileChanging` makes. */
let stopChanging: (() => Promise<void>) | undefined;
let dir: { path: string; remove: () => Promise<void> };
afterEach(async () => {
  writer?.kill();
  writer = undefined;
  await stopChanging?.();
  stopChanging = undefined;
  await server?.stop();
  server = undefined;
  await dir.remove();
});

/** A server over a policy set in `dir`, and the sets to write there. */
interface Served {
  readonly running: ServerProcess;
  /** The policy set with a rule named `rule`, and the same entity data. */
  readonly state: (rule: string) => PolicyFiles;
}

/**
 * A server (also `server`, stopped after each test) over a policy set with `entityCount`
 * entities of data: enough for each load attempt to take a while, during which the writer gets
 * a turn. The set's folder is `dir`.
 */
async function serveEntities(entityCount: number): Promise<Served> {
  const entities = Array.from({ length: entityCount }, (_, i) => ({ type: 'user', id: `u${i}`, properties: { team: 'a' } }));
  const state = (rule: string): PolicyFiles => ({ 'docs.json': docPolicy('docs', rule), 'data/u.json': { entities } });
  dir = await tempDir();
  await writeFiles(dir.path, state('v1'));
  server = await startServer({ POLICY_DIR: dir.path, POLICY_WATCH: 'false', PDP_ADMIN_KEYS: adminKey });
  return { running: server, state };
}

/**
 * `serveEntities`, and a shell loop running `writes` all along beside it, started before this
 * returns: by then it has appended 1,000 bytes to `log` (a path in the folder), so every attempt
 * of a reload that follows sees the files change.
 */
async function serveWhileWriting(entityCount: number, writes: (folder: string) => string[], log: string): Promise<Served> {
  const served = await serveEntities(entityCount);
  writer = spawn('sh', ['-c', `while :; do ${[...writes(dir.path), `echo 1 >> ${join(dir.path, log)}`].join('; ')}; done`], { stdio: 'ignore' });
  while (sizeOf(join(dir.path, log)) < 1_000) await new Promise((done) => setTimeout(done, 10));
  return served;
}

/**
 * As `serveWhileWriting`, with `change` made again and again from this process, a millisecond
 * apart, instead of a shell loop: changes that need commands of their own (mkdir, rm, ln) cost a
 * process each there, a core's worth all along; here a few system calls each. Started 20 times
 * before this returns.
 */
async function serveWhileChanging(entityCount: number, change: (folder: string) => Promise<void>): Promise<Served> {
  const served = await serveEntities(entityCount);
  const folder = dir.path;
  let changes = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await change(folder);
      changes += 1;
      await sleep(1);
    }
  })();
  stopChanging = async () => {
    stopped = true;
    await loop;
  };
  while (changes < 20) await sleep(10);
  return served;
}

describe('files in the policy folders that no load reads (real server)', () => {
  it('a log and swap files written all along beside the policies do not fail a reload as files that kept changing', async () => {
    const { running, state } = await serveWhileWriting(5_000, (folder) => [`echo 1 > ${join(folder, '.docs.json.swp')}`, `echo 1 > ${join(folder, 'data', '.u.json.swp')}`], 'notes.log');
    await writeFiles(dir.path, state('v2'));
    expect(await reload(running)).toEqual(expect.objectContaining({ version: await versionOf(state('v2')), changed: true }));
  });

  it('new files written all along beside the policies (logs rotated, editor backups) do not fail a reload as files that kept changing', async () => {
    const { running, state } = await serveWhileWriting(5_000, (folder) => [
      'n=$((n + 1))', `echo 1 > ${join(folder, 'notes.log')}.$n`, `echo 1 > ${join(folder, 'data', 'u.json~')}$n`,
    ], 'notes.log');
    await writeFiles(dir.path, state('v2'));
    expect(await reload(running)).toEqual(expect.objectContaining({ version: await versionOf(state('v2')), changed: true }));
  });

  it('test files written all along, with the tests not run on reload, do not fail a reload as files that kept changing', async () => {
    const { running, state } = await serveWhileWriting(5_000, (folder) => [`[ -d ${join(folder, 'tests')} ] || mkdir ${join(folder, 'tests')}`, `echo '{"cases":[]}' > ${join(folder, 'tests', 'docs.json')}`], 'notes.log');
    await writeFiles(dir.path, state('v2'));
    expect(await reload(running)).toEqual(expect.objectContaining({ version: await versionOf(state('v2')), changed: true }));
  });

  it('tests/ made, replaced and removed all along, with the tests not run on reload, fails no reload as files that kept changing', async () => {
    // A folder, nothing, a file, nothing, a link to nothing, nothing: counted, what tests/ was
    // differed between the start and the end of most attempts, and over half the reloads failed.
    const { running, state } = await serveWhileChanging(5_000, async (folder) => {
      const tests = join(folder, 'tests');
      await mkdir(tests);
      await rmdir(tests);
      await writeFile(tests, '');
      await rm(tests);
      await symlink('nowhere', tests);
      await rm(tests);
    });
    for (let reloads = 1; reloads <= 6; reloads++) {
      const next = state(`v${reloads + 1}`);
      await writeFiles(dir.path, next);
      expect(await reload(running)).toEqual(expect.objectContaining({ version: await versionOf(next), changed: true }));
    }
  }, 60_000);
});

describe('a file in the policy folders that every load reads (real server)', () => {
  it('written all along, fails the reload as files that kept changing, and the last good set keeps serving', async () => {
    // Here the entity data the load reads changes, and every attempt must see it: each takes longer.
    const { running, state } = await serveWhileWriting(20_000, (folder) => [`echo '{"entities":[]}' > ${join(folder, 'data', 'w.json')}`], 'writes.log');
    await writeFiles(dir.path, state('v2'));
    expect(await reload(running)).toEqual(expect.objectContaining({
      status: 422,
      errors: [{ file: dir.path, path: '$', message: 'files kept changing while being read (3 attempts)' }],
    }));
    const res = await fetch(`${running.url}/admin/policies`, { headers: { authorization: `Bearer ${adminKey}` } });
    expect(((await res.json()) as { version: string }).version).toBe(await versionOf(state('v1')));
  }, 60_000);
});
