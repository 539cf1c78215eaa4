import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { statSync } from 'node:fs';
import { mkdir, readdir, rm, rmdir, symlink, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { docPolicy, tempDir, versionOf, writeFiles, type PolicyFiles } from './helpers/policy-dir.js';
import { startServer, type ServerProcess } from './helpers/server-process.js';

const adminKey = 'unread-files-test-admin-key-0123456789';

async function reload(server: ServerProcess): Promise<Record<string, unknown>> {
  const res = await fetch(`${server.url}/admin/policies/reload`, { method: 'POST', headers: { authorization: `Bearer ${adminKey}` } });
  return (await res.json()) as Record<string, unknown>;
}

const sizeOf = (path: string) => statSync(path, { throwIfNoEntry: false })?.size ?? 0;

let writer: ChildProcess | undefined;
/** Stops the changes `changeAllAlong` makes. */
let stopChanging: (() => Promise<void>) | undefined;

/** Stops the writer and the changes, and waits until neither touches the folder again. */
async function stopWriting(): Promise<void> {
  if (writer !== undefined && writer.exitCode === null && writer.signalCode === null) {
    const exited = once(writer, 'exit');
    writer.kill();
    await exited;
  }
  writer = undefined;
  await stopChanging?.();
  stopChanging = undefined;
}

/** A server over a policy set in `folder`, the sets to write there, and how to stop it and remove the folder. */
interface Served {
  readonly running: ServerProcess;
  readonly folder: string;
  /** The policy set with a rule named `rule`, and the same entity data. */
  readonly state: (rule: string) => PolicyFiles;
  stop(): Promise<void>;
}

/**
 * A server over a policy set with `entityCount` entities of data: enough for each load attempt
 * to take a while, during which the writer gets a turn.
 */
async function serveEntities(entityCount: number): Promise<Served> {
  const entities = Array.from({ length: entityCount }, (_, i) => ({ type: 'user', id: `u${i}`, properties: { team: 'a' } }));
  const state = (rule: string): PolicyFiles => ({ 'docs.json': docPolicy('docs', rule), 'data/u.json': { entities } });
  const dir = await tempDir();
  await writeFiles(dir.path, state('v1'));
  const running = await startServer({ POLICY_DIR: dir.path, POLICY_WATCH: 'false', PDP_ADMIN_KEYS: adminKey });
  return {
    running,
    folder: dir.path,
    state,
    async stop() {
      await running.stop();
      await dir.remove();
    },
  };
}

/**
 * A shell loop running `writes` all along in `folder`, started before this returns: by then it
 * has gone round 50 times, appending 100 bytes to `log` (a path in the folder), so every attempt
 * of a reload that follows sees the files change. (Waiting for 500 rounds took 0.1-0.7 s, and
 * in the test making new files left a thousand of them for each load to list.)
 */
async function writeAllAlong(folder: string, writes: (folder: string) => string[], log: string): Promise<void> {
  writer = spawn('sh', ['-c', `while :; do ${[...writes(folder), `echo 1 >> ${join(folder, log)}`].join('; ')}; done`], { stdio: 'ignore' });
  while (sizeOf(join(folder, log)) < 100) await new Promise((done) => setTimeout(done, 10));
}

/**
 * As `writeAllAlong`, with `change` made again and again from this process, a millisecond
 * apart, instead of a shell loop: changes that need commands of their own (mkdir, rm, ln) cost a
 * process each there, a core's worth all along; here a few system calls each. Started 20 times
 * before this returns.
 */
async function changeAllAlong(folder: string, change: (folder: string) => Promise<void>): Promise<void> {
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
}

/** Removes what is in `folder` but `keep` (paths relative to it), folders included. */
async function removeAllBut(folder: string, keep: readonly string[]): Promise<void> {
  const entries = await readdir(folder, { recursive: true });
  await Promise.all(entries.filter((entry) => !keep.some((kept) => kept === entry || kept.startsWith(`${entry}/`))).map((entry) => rm(join(folder, entry), { recursive: true, force: true })));
}

describe('files in the policy folders that no load reads (real server)', () => {
  // One server for these: each test reloads a set with a rule of its own, so a version never
  // served before, and what it wrote beside the set is removed after it.
  let served: Served;
  let versions = 1;
  /** The set with a rule not written before. */
  const next = (): PolicyFiles => served.state(`v${++versions}`);
  beforeAll(async () => {
    served = await serveEntities(5_000);
  });
  afterEach(async () => {
    await stopWriting();
    await removeAllBut(served.folder, Object.keys(served.state('v1')));
  });
  afterAll(async () => {
    await served.stop();
  });

  it('a log and swap files written all along beside the policies do not fail a reload as files that kept changing', async () => {
    await writeAllAlong(served.folder, (folder) => [`echo 1 > ${join(folder, '.docs.json.swp')}`, `echo 1 > ${join(folder, 'data', '.u.json.swp')}`], 'notes.log');
    const set = next();
    await writeFiles(served.folder, set);
    expect(await reload(served.running)).toEqual(expect.objectContaining({ version: await versionOf(set), changed: true }));
  });

  it('new files written all along beside the policies (logs rotated, editor backups) do not fail a reload as files that kept changing', async () => {
    await writeAllAlong(served.folder, (folder) => [
      'n=$((n + 1))', `echo 1 > ${join(folder, 'notes.log')}.$n`, `echo 1 > ${join(folder, 'data', 'u.json~')}$n`,
    ], 'notes.log');
    const set = next();
    await writeFiles(served.folder, set);
    expect(await reload(served.running)).toEqual(expect.objectContaining({ version: await versionOf(set), changed: true }));
  });

  it('test files written all along, with the tests not run on reload, do not fail a reload as files that kept changing', async () => {
    await writeAllAlong(served.folder, (folder) => [`[ -d ${join(folder, 'tests')} ] || mkdir ${join(folder, 'tests')}`, `echo '{"cases":[]}' > ${join(folder, 'tests', 'docs.json')}`], 'notes.log');
    const set = next();
    await writeFiles(served.folder, set);
    expect(await reload(served.running)).toEqual(expect.objectContaining({ version: await versionOf(set), changed: true }));
  });

  it('tests/ made, replaced and removed all along, with the tests not run on reload, fails no reload as files that kept changing', async () => {
    // A folder, nothing, a file, nothing, a link to nothing, nothing: counted, what tests/ was
    // differed between the start and the end of most attempts, and over half the reloads failed.
    await changeAllAlong(served.folder, async (folder) => {
      const tests = join(folder, 'tests');
      await mkdir(tests);
      await rmdir(tests);
      await writeFile(tests, '');
      await rm(tests);
      await symlink('nowhere', tests);
      await rm(tests);
    });
    for (let reloads = 1; reloads <= 6; reloads++) {
      const set = next();
      await writeFiles(served.folder, set);
      expect(await reload(served.running)).toEqual(expect.objectContaining({ version: await versionOf(set), changed: true }));
    }
  }, 60_000);
});

describe('a file in the policy folders that every load reads (real server)', () => {
  let served: Served | undefined;
  afterEach(async () => {
    await stopWriting();
    await served?.stop();
    served = undefined;
  });

  it('written all along, fails the reload as files that kept changing, and the last good set keeps serving', async () => {
    // Here the entity data the load reads changes, and every attempt must see it: each takes longer.
    served = await serveEntities(20_000);
    const { running, folder, state } = served;
    const version = async () => {
      const res = await fetch(`${running.url}/admin/policies`, { headers: { authorization: `Bearer ${adminKey}` } });
      return ((await res.json()) as { version: string }).version;
    };
    // Asked of the server, not loaded again here: 20,000 entities took 0.4-0.9 s to load.
    const serving = await version();
    await writeAllAlong(folder, (at) => [`echo '{"entities":[]}' > ${join(at, 'data', 'w.json')}`], 'writes.log');
    await writeFiles(folder, state('v2'));
    expect(await reload(running)).toEqual(expect.objectContaining({
      status: 422,
      errors: [{ file: folder, path: '$', message: 'files kept changing while being read (3 attempts)' }],
    }));
    expect(await version()).toBe(serving);
  }, 60_000);
});
