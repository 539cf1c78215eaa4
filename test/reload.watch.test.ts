import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it, type TestContext } from 'vitest';
import { docPolicy, tempDir, versionOf, writeFiles, writeFilesByRename, type PolicyFiles } from './helpers/policy-dir.js';
import { runServerToExit } from './helpers/process.js';
import { startServer, type LogLine, type ServerProcess } from './helpers/server-process.js';

const clockStep = resolve(import.meta.dirname, 'fixtures/clock-step-on-signal.mjs');

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

async function servingVersion(server: ServerProcess): Promise<string> {
  const body = (await (await fetch(`${server.url}/readyz`)).json()) as { policies: { version: string } };
  return body.policies.version;
}

async function waitForVersion(server: ServerProcess, expected: string, timeoutMs = 8_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let current = await servingVersion(server);
  while (current !== expected && Date.now() < deadline) {
    await sleep(50);
    current = await servingVersion(server);
  }
  expect(current).toBe(expected);
}

const readAll = { subject: { id: 'u1' }, action: 'read', resource: { type: 'doc' } };
const passingTest = { cases: [{ name: 'anyone reads', request: readAll, expect: { decision: 'permit' } }] };
const failingTest = { cases: [{ name: 'nobody reads', request: readAll, expect: { decision: 'deny' } }] };

/** Writes one revision the way the kubelet does for a ConfigMap volume. */
async function configMapRevision(dir: string, revision: string, files: PolicyFiles, previous?: string): Promise<void> {
  await writeFiles(join(dir, revision), files);
  await symlink(revision, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  if (previous !== undefined) await rm(join(dir, previous), { recursive: true });
}

// Each test starts its own server on a policy directory of its own; both go after it.
type Dir = Awaited<ReturnType<typeof tempDir>>;

/** A policy directory for the test of `context`, removed once it ends. */
async function ownDir({ onTestFinished }: TestContext): Promise<Dir> {
  const dir = await tempDir();
  onTestFinished(() => dir.remove());
  return dir;
}

/** The server for the test of `context`, stopped once it ends (before its directory goes). */
async function ownServer({ onTestFinished }: TestContext, env: Readonly<Record<string, string>>): Promise<ServerProcess> {
  const server = await startServer(env);
  onTestFinished(() => server.stop());
  return server;
}

describe.concurrent('policy directory watch (real server)', () => {

  it('reloads when an editor saves by writing a new file and renaming it over the old one', async (context) => {
    const dir = await ownDir(context);
    await writeFiles(dir.path, { 'docs.json': docPolicy('docs', 'v1') });
    const server = await ownServer(context, { POLICY_DIR: dir.path });
    const next = { 'docs.json': docPolicy('docs', 'v2') };
    await writeFilesByRename(dir.path, next);
    await waitForVersion(server, await versionOf(next));
    await writeFilesByRename(dir.path, { 'docs.json': docPolicy('docs', 'v3') });
    await waitForVersion(server, await versionOf({ 'docs.json': docPolicy('docs', 'v3') }));
  });

  it('follows Kubernetes ConfigMap-style ..data symlink swaps, including the tests and data folders', async (context) => {
    const dir = await ownDir(context);
    const revision = (n: number): PolicyFiles => ({ 'docs.json': docPolicy('docs', `v${n}`), 'tests/docs.json': passingTest });
    await configMapRevision(dir.path, '..2025_01', revision(1));
    await symlink('..data/docs.json', join(dir.path, 'docs.json'));
    await symlink('..data/tests', join(dir.path, 'tests'));
    const server = await ownServer(context, { POLICY_DIR: dir.path, POLICY_TESTS_ON_RELOAD: 'true' });
    expect(await servingVersion(server)).toBe(await versionOf(revision(1)));

    await configMapRevision(dir.path, '..2025_02', revision(2), '..2025_01');
    await waitForVersion(server, await versionOf(revision(2)));
    await configMapRevision(dir.path, '..2025_03', revision(3), '..2025_02');
    const third = await versionOf(revision(3));
    await waitForVersion(server, third);

    // A change inside tests/ alone: only the re-resolved watch on ..2025_03/tests sees it.
    await writeFile(join(dir.path, 'tests', 'docs.json'), JSON.stringify(failingTest));
    const rejected = await server.waitForLog((l) => l['msg'] === 'policy reload rejected; the last good set keeps serving');
    expect(rejected['issues']).toEqual([expect.objectContaining({ file: 'tests/docs.json', path: '$.cases[0]', message: expect.stringContaining('nobody reads') })]);
    expect(await servingVersion(server)).toBe(third);
  });

  // With a trailing slash, lstat() follows the link: the link itself must still be watched.
  it.for(['', '/'])('follows a policy directory that is itself a symlink swapped to another release (POLICY_DIR=…/current%s)', async (suffix, context) => {
    const dir = await ownDir(context);
    await writeFiles(join(dir.path, 'releases/1'), { 'docs.json': docPolicy('docs', 'r1') });
    await writeFiles(join(dir.path, 'releases/2'), { 'docs.json': docPolicy('docs', 'r2') });
    await symlink('releases/1', join(dir.path, 'current'));
    const server = await ownServer(context, { POLICY_DIR: join(dir.path, 'current') + suffix });
    await symlink('releases/2', join(dir.path, 'current.tmp'));
    await rename(join(dir.path, 'current.tmp'), join(dir.path, 'current'));
    await waitForVersion(server, await versionOf({ 'docs.json': docPolicy('docs', 'r2') }));
    // The watch has moved to releases/2: an edit there is seen too.
    await writeFiles(join(dir.path, 'current'), { 'docs.json': docPolicy('docs', 'r2-edited') });
    await waitForVersion(server, await versionOf({ 'docs.json': docPolicy('docs', 'r2-edited') }));
  });

  // The folder holding `current` holds its target too: it is watched for both names, not for any.
  it('does not reload for a file written beside a policy directory symlinked to a sibling folder', async (context) => {
    const dir = await ownDir(context);
    await writeFiles(join(dir.path, 'r1'), { 'docs.json': docPolicy('docs', 'r1') });
    await writeFiles(join(dir.path, 'r2'), { 'docs.json': docPolicy('docs', 'r2') });
    await symlink('r1', join(dir.path, 'current'));
    const server = await ownServer(context, { POLICY_DIR: join(dir.path, 'current') });
    // A log written there reloaded the policies, whose reload log line reloaded them again, for good.
    for (let n = 0; n < 3; n += 1) await writeFile(join(dir.path, 'pdp.log'), `line ${String(n)}\n`);
    await sleep(800);
    expect(server.logs.filter((l) => l['trigger'] === 'watch')).toEqual([]);
    await symlink('r2', join(dir.path, 'current.tmp'));
    await rename(join(dir.path, 'current.tmp'), join(dir.path, 'current'));
    await waitForVersion(server, await versionOf({ 'docs.json': docPolicy('docs', 'r2') }));
    await rm(join(dir.path, 'r2'), { recursive: true });
    await server.waitForLog((l) => l['msg'] === 'policy reload rejected; the last good set keeps serving');
    await writeFiles(join(dir.path, 'r2'), { 'docs.json': docPolicy('docs', 'r2-again') });
    await waitForVersion(server, await versionOf({ 'docs.json': docPolicy('docs', 'r2-again') }));
  });

  // A release switched on the way to the policy directory (Capistrano's `current`): the old
  // release stays on disk unchanged, so only the folder holding the link sees the switch.
  it.for<[string, string]>([
    ['further up its path (POLICY_DIR=…/current/config/policies)', 'current/config/policies'],
    ['in the target of a link (POLICY_DIR=…/policies -> current/config/policies)', 'policies'],
  ])('follows a symlink swapped to another release %s', async ([, policyDir], context) => {
    const dir = await ownDir(context);
    const release = (name: string): PolicyFiles => ({ 'config/policies/docs.json': docPolicy('docs', name) });
    await writeFiles(join(dir.path, 'releases/1'), release('r1'));
    await writeFiles(join(dir.path, 'releases/2'), release('r2'));
    await symlink('releases/1', join(dir.path, 'current'));
    await symlink('current/config/policies', join(dir.path, 'policies'));
    const server = await ownServer(context, { POLICY_DIR: join(dir.path, policyDir) });
    await symlink('releases/2', join(dir.path, 'current.tmp'));
    await rename(join(dir.path, 'current.tmp'), join(dir.path, 'current'));
    await waitForVersion(server, await versionOf({ 'docs.json': docPolicy('docs', 'r2') }));
    // Switched back: the link is watched still, in the same folder.
    await symlink('releases/1', join(dir.path, 'current.tmp'));
    await rename(join(dir.path, 'current.tmp'), join(dir.path, 'current'));
    await waitForVersion(server, await versionOf({ 'docs.json': docPolicy('docs', 'r1') }));
  });

  it('follows a symlink swapped on the way to a policy file linked into the directory', async (context) => {
    const dir = await ownDir(context);
    await writeFiles(join(dir.path, 'releases/1'), { 'docs.json': docPolicy('docs', 'r1') });
    await writeFiles(join(dir.path, 'releases/2'), { 'docs.json': docPolicy('docs', 'r2') });
    await symlink('releases/1', join(dir.path, 'current'));
    await mkdir(join(dir.path, 'policies'));
    await symlink('../current/docs.json', join(dir.path, 'policies/docs.json'));
    const server = await ownServer(context, { POLICY_DIR: join(dir.path, 'policies') });
    await symlink('releases/2', join(dir.path, 'current.tmp'));
    await rename(join(dir.path, 'current.tmp'), join(dir.path, 'current'));
    await waitForVersion(server, await versionOf({ 'docs.json': docPolicy('docs', 'r2') }));
  });

  // Vim writes a swap file and a `4913` probe, Emacs a `.#name` lock link and a `name~` backup:
  // each reloaded every policy (and ran the tests) for a set that had not changed.
  it('does not reload for the files an editor keeps beside the policies while editing, and reloads on its save', async (context) => {
    const entities = { entities: [{ type: 'user', id: 'u1', properties: {} }] };
    const dir = await ownDir(context);
    await writeFiles(dir.path, { 'docs.json': docPolicy('docs', 'v1'), 'data/u.json': entities });
    const server = await ownServer(context, { POLICY_DIR: dir.path });
    for (const folder of [dir.path, join(dir.path, 'data')]) {
      // Further apart than the 200 ms quiet time: each one on its own reloaded.
      for (let n = 0; n < 3; n += 1) {
        await writeFile(join(folder, '.docs.json.swp'), `keystrokes ${String(n)}\n`);
        await sleep(250);
      }
      await writeFile(join(folder, '4913'), '');
      await rm(join(folder, '4913'));
      await symlink('someone@host.4242:1700000000', join(folder, '.#docs.json'));
      await writeFile(join(folder, 'docs.json~'), 'the previous save\n');
    }
    await sleep(800);
    expect(server.logs.filter((l) => l['trigger'] === 'watch')).toEqual([]);
    // The save itself is seen, made under a hidden name and renamed into place, with the lock link still there.
    const next = { 'docs.json': docPolicy('docs', 'v2'), 'data/u.json': entities };
    await writeFilesByRename(dir.path, { 'docs.json': next['docs.json'] });
    await waitForVersion(server, await versionOf(next));
    await rm(join(dir.path, '.#docs.json'));
    await sleep(800);
    expect(server.logs.filter((l) => l['trigger'] === 'watch')).toHaveLength(1);
  });

  // With POLICY_TESTS_ON_RELOAD=false no load reads tests/: each fixture saved reloaded the set
  // all the same, to log "policies unchanged".
  it('does not reload for changes in tests/ while the tests do not run on reload', async (context) => {
    const dir = await ownDir(context);
    await writeFiles(dir.path, { 'docs.json': docPolicy('docs', 'v1'), 'tests/docs.json': passingTest });
    const server = await ownServer(context, { POLICY_DIR: dir.path });
    // Further apart than the 200 ms quiet time: each one on its own reloaded.
    for (let n = 0; n < 3; n += 1) {
      await writeFile(join(dir.path, 'tests', 'docs.json'), JSON.stringify({ ...passingTest, n }));
      await sleep(250);
    }
    await writeFilesByRename(dir.path, { 'tests/docs.json': failingTest });
    await sleep(250);
    await rm(join(dir.path, 'tests'), { recursive: true });
    await sleep(250);
    await writeFiles(dir.path, { 'tests/docs.json': passingTest });
    await sleep(800);
    expect(server.logs.filter((l) => l['trigger'] === 'watch')).toEqual([]);
    const next = { 'docs.json': docPolicy('docs', 'v2') };
    await writeFiles(dir.path, next);
    await waitForVersion(server, await versionOf(next));
  });

  it('reloads when a folder is made in the policy directory, and again once it goes', async (context) => {
    const dir = await ownDir(context);
    await writeFiles(dir.path, { 'docs.json': docPolicy('docs', 'v1') });
    const server = await ownServer(context, { POLICY_DIR: dir.path, PDP_ADMIN_KEYS: 'watch-test-admin-key-0123456789' });
    await mkdir(join(dir.path, 'billing'));
    const rejected = await server.waitForLog((l) => l['msg'] === 'policy reload rejected; the last good set keeps serving');
    expect(rejected['issues']).toEqual([expect.objectContaining({ file: 'billing' })]);
    await rm(join(dir.path, 'billing'), { recursive: true });
    await server.waitForLog((l) => l['msg'] === 'policies unchanged' && l['trigger'] === 'watch');
  });

  it('reloads when entity data changes under data/, even into a folder created after start', async (context) => {
    const dir = await ownDir(context);
    await writeFiles(dir.path, { 'docs.json': docPolicy('docs', 'v1') });
    const server = await ownServer(context, { POLICY_DIR: dir.path });
    await mkdir(join(dir.path, 'data'));
    // The new folder is itself a change; once that reload is logged, data/ is watched.
    await server.waitForLog((l) => l['trigger'] === 'watch');
    const before = server.logs.length;
    await writeFile(join(dir.path, 'data', 'entities.json'), '{}');
    // Whatever the entity data format makes of `{}`, a reload must run because of it
    // (waitForLog fails the test when none is logged).
    await server.waitForLog((l) => server.logs.indexOf(l) >= before && l['trigger'] === 'watch');
  });

  it.for([
    ['', {}],
    [', the wall clock stepped an hour back after the first', { NODE_OPTIONS: `--import=${clockStep}`, CLOCK_STEP_MS: '-3600000' }],
  ] as const)('reloads within the longest wait while changes keep coming faster than the quiet time%s', async ([, env], context) => {
    const dir = await ownDir(context);
    const release = join(dir.path, 'releases/1');
    await writeFiles(release, { 'docs.json': docPolicy('docs', 'v1') });
    await symlink('releases/1', join(dir.path, 'current'));
    const server = await ownServer(context, { POLICY_DIR: join(dir.path, 'current'), ...env });
    const next = await versionOf({ 'docs.json': docPolicy('docs', 'v2') });
    // The link on the way to the policies pointed anew at the same release (a deploy run again),
    // every 20 ms, well inside the 200 ms quiet time, until v2 serves: the watch sees each one,
    // and no attempt of a load sees any file it reads change.
    let n = 0;
    const relinker = setInterval(() => {
      const temporary = join(dir.path, `current.${String(n++)}`);
      symlinkSync('releases/1', temporary);
      renameSync(temporary, join(dir.path, 'current'));
    }, 20);
    context.onTestFinished(() => clearInterval(relinker));
    await writeFiles(release, { 'docs.json': docPolicy('docs', 'v2') });
    if ('NODE_OPTIONS' in env) {
      // Before, the longest wait was counted on the wall clock: from the first change, an hour
      // ahead of the stepped clock, so the changes kept the reload waiting for good.
      await sleep(50);
      server.process.kill('SIGUSR2');
      await server.waitForLog((l) => l['msg'] === 'wall clock stepped');
    }
    const deadline = Date.now() + 10_000;
    let current = await servingVersion(server);
    while (current !== next && Date.now() < deadline) {
      await sleep(50);
      current = await servingVersion(server);
    }
    expect(current).toBe(next);
  });
});

describe.concurrent('policy folders replaced at the same path (real server)', () => {
  const adminKey = 'watch-test-admin-key-0123456789';

  async function lastReloadError(server: ServerProcess): Promise<unknown> {
    const res = await fetch(`${server.url}/admin/policies`, { headers: { authorization: `Bearer ${adminKey}` } });
    return ((await res.json()) as { lastReloadError: unknown }).lastReloadError;
  }

  it('follows a policy directory another folder was renamed over', async (context) => {
    const dir = await ownDir(context);
    const live = join(dir.path, 'policies');
    await writeFiles(live, { 'docs.json': docPolicy('docs', 'v1') });
    const server = await ownServer(context, { POLICY_DIR: live });
    await writeFiles(`${live}.new`, { 'docs.json': docPolicy('docs', 'v2') });
    renameSync(live, `${live}.old`);
    renameSync(`${live}.new`, live);
    await waitForVersion(server, await versionOf({ 'docs.json': docPolicy('docs', 'v2') }));
    // The watch is on the new folder, not on the old one it followed to policies.old.
    await writeFiles(live, { 'docs.json': docPolicy('docs', 'v3') });
    await waitForVersion(server, await versionOf({ 'docs.json': docPolicy('docs', 'v3') }));
  });

  it('follows a data/ folder deleted and created again at once', async (context) => {
    const entities = (n: number) => ({ entities: [{ type: 'user', id: 'u1', properties: { n } }] });
    const state = (n: number): PolicyFiles => ({ 'docs.json': docPolicy('docs', 'v1'), 'data/u.json': entities(n) });
    const dir = await ownDir(context);
    await writeFiles(dir.path, state(1));
    const server = await ownServer(context, { POLICY_DIR: dir.path });
    // Within one turn, before the watch looks again: the new folder may even get the old inode number.
    const data = join(dir.path, 'data');
    rmSync(data, { recursive: true });
    mkdirSync(data);
    writeFileSync(join(data, 'u.json'), JSON.stringify(entities(2)));
    await waitForVersion(server, await versionOf(state(2)));
    await writeFile(join(data, 'u.json'), JSON.stringify(entities(3)));
    await waitForVersion(server, await versionOf(state(3)));
  });

  it('picks the policy directory up again once it is deleted and created anew', async (context) => {
    const dir = await ownDir(context);
    const live = join(dir.path, 'policies');
    await writeFiles(live, { 'docs.json': docPolicy('docs', 'v1') });
    const server = await ownServer(context, { POLICY_DIR: live, PDP_ADMIN_KEYS: adminKey });
    const first = await servingVersion(server);
    await rm(live, { recursive: true });
    const rejected = await server.waitForLog((l) => l['msg'] === 'policy reload rejected; the last good set keeps serving');
    expect(rejected['issues']).toEqual([expect.objectContaining({ message: expect.stringContaining('ENOENT') })]);
    expect(await servingVersion(server)).toBe(first);
    await writeFiles(live, { 'docs.json': docPolicy('docs', 'v2') });
    await waitForVersion(server, await versionOf({ 'docs.json': docPolicy('docs', 'v2') }));
    expect(await lastReloadError(server)).toBeNull();
  });

  it.for<[string, string, string[]]>([
    ['the folder holding it', 'release', []],
    ['a folder two levels above it', 'srv', ['release']],
  ])('picks the policy directory up again once %s is deleted and created anew', async ([, removed, below], context) => {
    const dir = await ownDir(context);
    const live = join(dir.path, removed, ...below, 'policies');
    await writeFiles(live, { 'docs.json': docPolicy('docs', 'v1') });
    const server = await ownServer(context, { POLICY_DIR: live });
    await rm(join(dir.path, removed), { recursive: true });
    await server.waitForLog((l) => l['msg'] === 'policy reload rejected; the last good set keeps serving');
    await writeFiles(live, { 'docs.json': docPolicy('docs', 'v2') });
    await waitForVersion(server, await versionOf({ 'docs.json': docPolicy('docs', 'v2') }));
    await writeFiles(live, { 'docs.json': docPolicy('docs', 'v3') });
    await waitForVersion(server, await versionOf({ 'docs.json': docPolicy('docs', 'v3') }));
  });
});

describe.concurrent('links whose target goes away and comes back (real server)', () => {
  const rejected = (l: LogLine) => l['msg'] === 'policy reload rejected; the last good set keeps serving';

  // The first reload after the loss fails on the link to nothing; the target made again must bring the next one.
  /** Writes the linked file `shared/docs.json` under `dir` with rule `rule`, and waits for the server to serve it. */
  async function writeLinked(dir: Dir, running: ServerProcess, rule: string): Promise<void> {
    await writeFiles(join(dir.path, 'shared'), { 'docs.json': docPolicy('docs', rule) });
    await waitForVersion(running, await versionOf({ 'docs.json': docPolicy('docs', rule) }), 4_000);
  }

  /** A directory, and a server on its `policies/`, whose docs.json is a link to `shared/docs.json`. */
  async function serveLinkedPolicy(context: TestContext): Promise<{ dir: Dir; running: ServerProcess }> {
    const dir = await ownDir(context);
    await writeFiles(join(dir.path, 'shared'), { 'docs.json': docPolicy('docs', 'v1') });
    await mkdir(join(dir.path, 'policies'));
    await symlink('../shared/docs.json', join(dir.path, 'policies/docs.json'));
    return { dir, running: await ownServer(context, { POLICY_DIR: join(dir.path, 'policies') }) };
  }

  it('reloads once the file a policy links to is deleted and written again', async (context) => {
    const { dir, running } = await serveLinkedPolicy(context);
    await rm(join(dir.path, 'shared/docs.json'));
    await running.waitForLog(rejected);
    await writeLinked(dir, running, 'v2');
  });

  it('reloads once the folder holding a linked policy file is deleted and made again', async (context) => {
    const { dir, running } = await serveLinkedPolicy(context);
    await rm(join(dir.path, 'shared'), { recursive: true });
    await running.waitForLog(rejected);
    await writeLinked(dir, running, 'v2');
    await writeLinked(dir, running, 'v3');
  });

  it('reloads once the folder a data/ link points to is deleted and made again', async (context) => {
    const entities = (n: number) => ({ entities: [{ type: 'user', id: 'u1', properties: { n } }] });
    const dir = await ownDir(context);
    await writeFiles(join(dir.path, 'policies'), { 'docs.json': docPolicy('docs', 'v1') });
    await writeFiles(join(dir.path, 'entities'), { 'u.json': entities(1) });
    await symlink('../entities', join(dir.path, 'policies/data'));
    const server = await ownServer(context, { POLICY_DIR: join(dir.path, 'policies') });
    await rm(join(dir.path, 'entities'), { recursive: true });
    await server.waitForLog(rejected);
    await writeFiles(join(dir.path, 'entities'), { 'u.json': entities(2) });
    await waitForVersion(server, await versionOf({ 'docs.json': docPolicy('docs', 'v1'), 'data/u.json': entities(2) }), 4_000);
  });
});

describe.concurrent('SIGHUP and start-up (real server)', () => {

  it('reloads on SIGHUP with watching off, and keeps the last good set on a bad one', async (context) => {
    const dir = await ownDir(context);
    await writeFiles(dir.path, { 'docs.json': docPolicy('docs', 'v1') });
    const server = await ownServer(context, { POLICY_DIR: dir.path, POLICY_WATCH: 'false' });
    const first = await servingVersion(server);

    await writeFiles(dir.path, { 'docs.json': docPolicy('docs', 'v2') });
    await sleep(500);
    expect(await servingVersion(server)).toBe(first);
    server.process.kill('SIGHUP');
    const second = await versionOf({ 'docs.json': docPolicy('docs', 'v2') });
    await waitForVersion(server, second);
    expect(server.logs).toContainEqual(expect.objectContaining({ msg: 'policies reloaded', trigger: 'signal', version: second, previousVersion: first }));

    await writeFiles(dir.path, { 'docs.json': docPolicy('docs', 'v3', { condition: 'subject.rolez == 1' }) });
    server.process.kill('SIGHUP');
    const rejected = await server.waitForLog((l) => l['msg'] === 'policy reload rejected; the last good set keeps serving');
    expect(rejected).toMatchObject({
      level: 50,
      trigger: 'signal',
      version: second,
      issues: [{ file: 'docs.json', path: '$.rules[0].condition', rule: 'v3', message: expect.stringContaining('type') }],
    });
    const res = await fetch(`${server.url}/decide`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(readAll) });
    expect(await res.json()).toMatchObject({ decision: 'permit', policyVersion: second });
  });

  it('refuses to start on a bad policy set, listing every problem', async (context) => {
    const dir = await ownDir(context);
    await writeFiles(dir.path, {
      'a.json': docPolicy('a', 'ok-rule', { condition: 'resource.properties.size >' }),
      'b.json': { id: 'b', resource: 'doc', rules: [{ id: 'x', effect: 'maybe', actions: ['read'] }] },
    });
    const { code, stderr } = await runServerToExit({ POLICY_DIR: dir.path });
    expect(code).toBe(1);
    expect(stderr).toContain('a.json $.rules[0].condition (rule ok-rule): syntax');
    expect(stderr).toContain('b.json $.rules[0].effect');
  });

  it('runs the tests on load with the claim mapping the server decides with', async (context) => {
    // Roles come from `groups`; a `roles` claim grants nothing. Under the default mapping the
    // first case would fail and the second pass: the opposite of what the server decides.
    const reader = (claims: Record<string, unknown>) => ({ subject: { id: 'u1', properties: claims }, action: 'read', resource: { type: 'doc' } });
    const tests = {
      cases: [
        { name: 'a reader by group reads', request: reader({ groups: ['reader'] }), expect: { decision: 'permit' } },
        { name: 'a roles claim is not a group', request: reader({ roles: ['reader'] }), expect: { decision: 'deny' } },
      ],
    };
    const dir = await ownDir(context);
    await writeFiles(dir.path, { 'docs.json': docPolicy('docs', 'readers', { roles: ['reader'] }), 'tests/docs.json': tests });
    const server = await ownServer(context, { POLICY_DIR: dir.path, POLICY_TESTS_ON_RELOAD: 'true', CLAIM_ROLES: 'groups' });
    expect(await servingVersion(server)).toBe(await versionOf({ 'docs.json': docPolicy('docs', 'readers', { roles: ['reader'] }), 'tests/docs.json': tests }));
  });

  it('refuses to start when tests on reload are on and a test case fails', async (context) => {
    const dir = await ownDir(context);
    await writeFiles(dir.path, { 'docs.json': docPolicy('docs', 'v1'), 'tests/docs.json': failingTest });
    const { code, stderr } = await runServerToExit({ POLICY_DIR: dir.path, POLICY_TESTS_ON_RELOAD: 'true' });
    expect(code).toBe(1);
    expect(stderr).toContain('tests/docs.json $.cases[0]: test "nobody reads" failed');
  });
});
