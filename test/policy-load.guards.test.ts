import { execFileSync, spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { copyFile, mkdir, open, rename, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { callerKeys } from '../src/caller/keys.js';
import { buildTestApp, defaultPolicyDir, postJson, readJson } from './helpers/app.js';
import { runCli } from './helpers/cli.js';
import { docPolicy, tempDir, writeFiles } from './helpers/policy-dir.js';
import { runServerToExit } from './helpers/process.js';
import { startServer, type ServerProcess } from './helpers/server-process.js';

const adminKey = 'load-guards-test-admin-key-0123456789';

let server: ServerProcess | undefined;
const removals: (() => Promise<void>)[] = [];
afterEach(async () => {
  await server?.stop();
  server = undefined;
  await Promise.all(removals.splice(0).map((remove) => remove()));
});

/** A fresh directory, removed after the test. */
async function freshDir(): Promise<string> {
  const dir = await tempDir('pdp-guards-');
  removals.push(dir.remove);
  return dir.path;
}

/** What `pdp validate --json` reports of `dir`, which it must refuse (exit 1). */
async function refusedReport(dir: string): Promise<unknown> {
  const run = await runCli(['validate', dir, '--json']);
  expect(run.code).toBe(1);
  return JSON.parse(run.stdout);
}

/** A policy directory holding the shipped invoice policies. */
async function invoiceDir(): Promise<string> {
  const dir = await freshDir();
  await copyFile(join(defaultPolicyDir, 'invoices.json'), join(dir, 'invoices.json'));
  return dir;
}

/** A finance manager approving an invoice he claims someone else owns. */
const selfApproval = {
  subject: { id: 'u-mgr', properties: { roles: ['finance_manager'], scope: 'invoice.read invoice.write', region: 'EU', approval_limit: 5000 } },
  action: 'approve',
  resource: { type: 'invoice', id: 'inv-1', properties: { region: 'EU', status: 'submitted', amount: 500, owner: 'someone-else' } },
  context: { mfa: true },
};

describe('a data entry that is there but cannot be read as a folder', () => {
  it('rejects the reload when data/ links to a folder moved away, so the stored owner keeps applying', async () => {
    const dir = await invoiceDir();
    const shared = await freshDir();
    await writeFiles(join(shared, 'current'), { 'invoices.json': { entities: [{ type: 'invoice', id: 'inv-1', properties: { owner: 'u-mgr' } }] } });
    await symlink(join(shared, 'current'), join(dir, 'data'));
    const { app } = await buildTestApp({ policyDir: dir, app: { callers: callerKeys({ api: [], trusted: [], admin: [adminKey] }) } });
    const decide = async () => readJson(await postJson(app, '/decide', selfApproval));
    const before = await decide();
    expect(before).toMatchObject({ decision: 'deny', reasons: expect.arrayContaining([expect.objectContaining({ rule: 'D1-no-self-approval' })]) });

    await rename(join(shared, 'current'), join(shared, 'moved'));
    const res = await app.request('/admin/policies/reload', { method: 'POST', headers: { authorization: `Bearer ${adminKey}` } });
    expect(res.status).toBe(422);
    expect((await readJson(res))['errors']).toEqual([{ file: 'data', path: '$', message: 'cannot read entity data directory: a link to nothing' }]);
    expect(await decide()).toMatchObject({ decision: 'deny', policyVersion: before['policyVersion'] });
  });

  it('pdp validate reports a data link to nothing; a missing data/ is still no entity data', async () => {
    const dir = await invoiceDir();
    expect((await runCli(['validate', dir])).code).toBe(0);
    await symlink(join(await freshDir(), 'gone'), join(dir, 'data'));
    const run = await runCli(['validate', dir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error data $: cannot read entity data directory: a link to nothing');
  });
});

describe('POLICY_TESTS_ON_RELOAD=true with no test cases (real server)', () => {
  const reader = { subject: { id: 'u1' }, action: 'read', resource: { type: 'doc' } };
  const tests = { cases: [{ name: 'anyone reads', request: reader, expect: { decision: 'permit' } }] };

  async function admin(method: 'GET' | 'POST', path: string): Promise<{ status: number; body: Record<string, unknown> }> {
    if (server === undefined) throw new Error('no server');
    const res = await fetch(`${server.url}${path}`, { method, headers: { authorization: `Bearer ${adminKey}` } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }
  const reload = () => admin('POST', '/admin/policies/reload');
  const serving = async () => (await admin('GET', '/admin/policies')).body['version'];

  it('rejects a reload once tests/ is moved away or holds no test file, and keeps the tested set serving', async () => {
    const dir = await freshDir();
    await writeFiles(dir, { 'docs.json': docPolicy('docs', 'v1'), 'tests/docs.json': tests });
    server = await startServer({ POLICY_DIR: dir, POLICY_TESTS_ON_RELOAD: 'true', PDP_ADMIN_KEYS: adminKey, POLICY_WATCH: 'false' });
    const tested = await serving();

    await writeFiles(dir, { 'docs.json': docPolicy('docs', 'v2') });
    await rename(join(dir, 'tests'), join(await freshDir(), 'tests'));
    const noTests = await reload();
    expect(noTests.status).toBe(422);
    expect(noTests.body['errors']).toEqual([{ file: 'tests', path: '$', message: expect.stringContaining('no test cases found') }]);
    expect(await serving()).toBe(tested);

    await writeFiles(dir, { 'tests/README.md': 'cases go in *.json' });
    expect(await reload()).toMatchObject({ status: 422, body: { errors: [expect.objectContaining({ file: 'tests', message: expect.stringContaining('no test cases found') })] } });
    expect(await serving()).toBe(tested);
  }, 20_000);

  it('refuses to start without test cases', async () => {
    const dir = await freshDir();
    await writeFiles(dir, { 'docs.json': docPolicy('docs', 'v1') });
    const { code, stderr } = await runServerToExit({ POLICY_DIR: dir, POLICY_TESTS_ON_RELOAD: 'true' });
    expect(code).toBe(1);
    expect(stderr).toContain('tests $: no test cases found');
  });
});

describe('entity data held to the request JSON limits', () => {
  const user = (properties: Record<string, unknown>) => ({ entities: [{ type: 'user', id: 'u-1', properties }] });

  it.each([
    ['an array', { departments: Array.from({ length: 1001 }, (_, i) => `d${i}`) }, '$.entities[0].properties.departments: array longer than 1000 elements'],
    ['an object', Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`k${i}`, i])), '$.entities[0].properties: object with more than 1000 members'],
    ['a nested string', { profile: { bio: 'x'.repeat(16_385) } }, '$.entities[0].properties.profile.bio: string longer than 16384 characters'],
  ])('refuses %s beyond them, naming the file and path', async (_, properties, problem) => {
    const dir = await invoiceDir();
    // At the limits, as data/within.json is, the data loads.
    const within = { entities: [{ type: 'user', id: 'u-2', properties: { departments: Array.from({ length: 1000 }, (_, i) => `d${i}`), bio: 'x'.repeat(16_384) } }] };
    await writeFiles(dir, { 'data/big.json': user(properties), 'data/within.json': within });
    const run = await runCli(['validate', dir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`error data/big.json ${problem}\ninvalid: 1 problem(s)\n`);
  });

  it.each([
    ['a data file', 'data/huge.json', `{"entities":[]}`],
    ['a policy file', 'huge.json', JSON.stringify(docPolicy('docs', 'v1'))],
    ['a test file', 'tests/huge.json', `{"cases":[]}`],
  ])('refuses %s over 16 MiB unread', async (_, file, json) => {
    const dir = await invoiceDir();
    await writeFiles(dir, { [file]: `${json}${' '.repeat(16 * 1024 * 1024)}` });
    const run = await runCli(['validate', dir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`error ${file} $: cannot read: larger than 16777216 bytes`);
  });
});

describe('entity names and authoritative lists held to their bounds', () => {
  const names = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}${i}`);
  const stored = (keys: readonly string[]) => Object.fromEntries(keys.map((key) => [key, 1]));
  // Each bound at its value in one entity: the data loads beside any of the cases below.
  const atBounds = names('w', 63).concat('n'.repeat(256));
  const within = { entities: [{ type: 'user', id: 'i'.repeat(1024), aliases: ['a'.repeat(1024), ...names('alias-', 63)], properties: stored(atBounds), authoritative: atBounds }] };

  it.each([
    // `subject.aliases` is costed at load as 64 names of 1,024 characters at most: a condition
    // reading more would pass its cost bound.
    ['65 aliases', { type: 'user', id: 'u-1', aliases: names('b', 65) }, '$.entities[0].aliases: Too big: expected array to have <=64 items'],
    ['an id of 1,025 characters', { type: 'user', id: 'x'.repeat(1025) }, '$.entities[0].id: Too big: expected string to have <=1024 characters'],
    ['an alias of 1,025 characters', { type: 'user', id: 'u-1', aliases: ['z'.repeat(1025)] }, '$.entities[0].aliases[0]: Too big: expected string to have <=1024 characters'],
    ['65 authoritative names', { type: 'user', id: 'u-1', properties: stored(names('p', 65)), authoritative: names('p', 65) }, '$.entities[0].authoritative: Too big: expected array to have <=64 items'],
    ['an authoritative name of 257 characters', { type: 'user', id: 'u-1', properties: stored(['q'.repeat(257)]), authoritative: ['q'.repeat(257)] }, '$.entities[0].authoritative[0]: Too big: expected string to have <=256 characters'],
  ])('refuses an entity with %s, naming the file and path', async (_, entity, problem) => {
    const dir = await invoiceDir();
    await writeFiles(dir, { 'data/big.json': { entities: [entity] }, 'data/within.json': within });
    const run = await runCli(['validate', dir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`error data/big.json ${problem}\ninvalid: 1 problem(s)\n`);
  });
});

describe('files with many problems', () => {
  it('reports the first 100 of a file, and that there are more, without checking a long list to its end', async () => {
    const dir = await invoiceDir();
    // Before, 5.6 million of these (16 MiB) ran the process out of memory: zod made an issue
    // for each missing field of each, and the reload's 422 and log line held them all.
    await writeFiles(dir, { 'data/users.json': `{"entities":[${Array.from({ length: 200_000 }, () => '{}').join(',')}]}` });
    const run = await runCli(['validate', dir]);
    expect(run.code).toBe(1);
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines.slice(0, 3)).toEqual([
      'error data/users.json $.entities[0].type: missing: required, a string',
      'error data/users.json $.entities[0].id: missing: required, a string',
      'error data/users.json $.entities[1].type: missing: required, a string',
    ]);
    expect(lines.slice(-2)).toEqual(['error data/users.json $: more problems in this file, not listed beyond the first 100', 'invalid: 101 problem(s)']);
  });

  it('refuses a rule naming more than 1,000 actions, roles or scopes at once, with its path', async () => {
    // Before, 7.5 million actions took 29 s and 4 GB, then overflowed the stack.
    const dir = await invoiceDir();
    const many = Array.from({ length: 1001 }, (_, i) => `a${String(i)}`);
    await writeFiles(dir, { 'big.json': { id: 'big', resource: 'doc', rules: [{ id: 'r', effect: 'permit', actions: many, roles: many, scopes: many }] } });
    const run = await runCli(['validate', dir]);
    expect(run.code).toBe(1);
    expect(run.stderr.trimEnd().split('\n').map((line) => line.split(':')[0])).toEqual([
      'error big.json $.rules[0].actions (rule r)',
      'error big.json $.rules[0].roles (rule r)',
      'error big.json $.rules[0].scopes (rule r)',
      'invalid',
    ]);
  });

  it.each([
    // 600,000 cases of `{}` in 60 groups: three problems each.
    [
      'tests/many.json',
      `{"groups":[${Array.from({ length: 60 }, () => `{"name":"g","cases":[${Array(10_000).fill('{}').join(',')}]}`).join(',')}]}`,
      'error tests/many.json $.groups[0].cases[0].name: missing: required, a string',
    ],
    // 200 rules of 1,000 empty actions, roles and scopes each: a million problems.
    [
      'many.json',
      JSON.stringify({ id: 'many', resource: 'doc', rules: Array.from({ length: 200 }, (_, i) => ({ id: `r${i}`, effect: 'deny', actions: Array(1000).fill(''), roles: Array(1000).fill(''), scopes: Array(1000).fill('') })) }),
      'error many.json $.rules[0].actions[0] (rule r0): Too small: expected string to have >=1 characters',
    ],
  ])('refuses %s, a million problems in nested lists, within 64 MB of heap, reporting its first 100', async (file, text, first) => {
    // Before, zod made every issue of the file before the list was cut to 100: a 3 MB test file
    // took 13 s and 2.6 GB, a 15 MB one crashed the server, 9 MB of such rules stalled it 21 s.
    const dir = await invoiceDir();
    await writeFiles(dir, { [file]: text });
    const run = await runCli(['validate', dir], { node: ['--max-old-space-size=64'] });
    expect(run.code).toBe(1);
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe(first);
    expect(lines.slice(-2)).toEqual([`error ${file} $: more problems in this file, not listed beyond the first 100`, 'invalid: 101 problem(s)']);
  });

  it('names an unknown key of megabytes, within 64 MB of heap, without looking for the field it misspells', async () => {
    // Before, the nearest field was looked for by comparing every character of the key: a key of
    // 3 million characters took 1.5 GB and 6 s.
    const dir = await invoiceDir();
    const key = 'x'.repeat(3_000_000);
    await writeFiles(dir, { 'big.json': { id: 'big', resource: 'doc', rules: [{ id: 'r', effect: 'permit', actions: ['read'], [key]: 1 }] } });
    const run = await runCli(['validate', dir], { node: ['--max-old-space-size=64'] });
    expect(run.code).toBe(1);
    expect(run.stderr.trimEnd().split('\n')).toEqual([
      `error big.json $.rules[0] (rule r): Unrecognized key: "${key}": a rule takes id, description, effect, actions, roles, scopes, condition and advice`,
      'invalid: 1 problem(s)',
    ]);
  });

  it('reports the first 100 problems of a data file\'s entities, so they crowd out no other file\'s', async () => {
    const dir = await invoiceDir();
    // Before, every clash and unstored authoritative name was listed: 149 here, and a file of
    // a thousand duplicate ids left no room in the load's 1,000 for any other file's problems.
    const unstored = Array.from({ length: 60 }, (_, i) => ({ type: 'user', id: `u-${i}`, authoritative: ['roles'] }));
    const duplicates = Array.from({ length: 90 }, () => ({ type: 'user', id: 'dup' }));
    await writeFiles(dir, { 'data/a.json': { entities: [...unstored, ...duplicates] }, 'data/b.json': { entities: [{ type: 'user', id: 'b-1', authoritative: ['region'] }] } });
    const run = await runCli(['validate', dir]);
    expect(run.code).toBe(1);
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines.filter((line) => line.startsWith('error data/a.json '))).toHaveLength(101);
    expect(lines.slice(-3)).toEqual([
      'error data/a.json $: more problems in this file, not listed beyond the first 100',
      'error data/b.json $.entities[0].authoritative[0]: "region" is not one of this entity\'s properties; store it (an empty list to take every value away)',
      'invalid: 102 problem(s)',
    ]);
  });

  it('reports the first 100 rule ids and conditions a policy file gets wrong, so they crowd out no other file\'s', async () => {
    const dir = await freshDir();
    // Before, all 1,199 duplicates were listed, and b.json's condition fell beyond the 1,000 of the load.
    const duplicates = Array.from({ length: 1200 }, () => ({ id: 'r', effect: 'permit', actions: ['read'] }));
    const conditions = Array.from({ length: 150 }, (_, i) => ({ id: `c${i}`, effect: 'deny', actions: ['read'], condition: `subject.rolez${i} == []` }));
    await writeFiles(dir, {
      'a.json': { id: 'a', resource: 'doc', rules: duplicates },
      'b.json': { id: 'b', resource: 'invoice', rules: [{ id: 'r', effect: 'deny', actions: ['read'], condition: 'subject.rolez == []' }] },
      'c.json': { id: 'c', resource: 'note', rules: conditions },
    });
    const run = await runCli(['validate', dir]);
    expect(run.code).toBe(1);
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines.filter((line) => line.startsWith('error a.json '))).toHaveLength(101);
    expect(lines.filter((line) => line.startsWith('error c.json '))).toHaveLength(101);
    expect(lines).toContain('error a.json $: more problems in this file, not listed beyond the first 100');
    expect(lines).toContain("error b.json $.rules[0].condition (rule r): type: No such key: rolez in subject.rolez; the request's other attributes are under subject.properties");
    expect(lines.slice(-2)).toEqual(['error c.json $: more problems in this file, not listed beyond the first 100', 'invalid: 203 problem(s)']);
  });

  it('reports the first 1,000 of a load, and how many more there were', async () => {
    const dir = await invoiceDir();
    const duplicates = (n: number) => ({ entities: Array.from({ length: n }, () => ({ type: 'user', id: 'u-1' })) });
    await writeFiles(dir, Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`data/d${String(i).padStart(2, '0')}.json`, duplicates(600)])));
    const run = await runCli(['validate', dir]);
    expect(run.code).toBe(1);
    const lines = run.stderr.trimEnd().split('\n');
    // Ten files of 100 listed and one line saying each has more: the last 109 problems, and the
    // lines of the two files past the 1,000th, are left out.
    expect(lines.slice(-2)).toEqual(['error (all files) $: 109 more problems not listed, besides those beyond the first 100 of a file', 'invalid: 1001 problem(s)']);
  });

  it('counts the problems it leaves out of a load, and only those, where no file has more than 100', async () => {
    const dir = await invoiceDir();
    const duplicates = (n: number) => ({ entities: Array.from({ length: n }, () => ({ type: 'user', id: 'u-1' })) });
    await writeFiles(dir, Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`data/d${String(i).padStart(2, '0')}.json`, duplicates(100)])));
    const run = await runCli(['validate', dir]);
    expect(run.code).toBe(1);
    // The first file's entries after its first repeat that id, and every entry of the ten other
    // files does: 1,099 problems, 1,000 listed.
    expect(run.stderr.trimEnd().split('\n').slice(-2)).toEqual(['error (all files) $: 99 more problems not listed', 'invalid: 1001 problem(s)']);
  });
});

describe('a *.json entry that is not a regular file', () => {
  it.each(['.', 'data', 'tests'])('refuses a directory named *.json in %s rather than skip it', async (folder) => {
    const dir = await freshDir();
    await writeFiles(dir, { 'docs.json': docPolicy('docs', 'v1'), 'tests/docs.json': { cases: [{ name: 'reads', request: { subject: { id: 'u1' }, action: 'read', resource: { type: 'doc' } }, expect: { decision: 'permit' } }] } });
    await mkdir(join(dir, folder, 'deny.json'), { recursive: true });
    const run = await runCli(['validate', dir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${join(folder, 'deny.json')} $: cannot read: not a regular file`);
  });

  it('refuses a FIFO at once without opening it, so a writer waiting on it stays waiting', async () => {
    const dir = await freshDir();
    await writeFiles(dir, { 'docs.json': docPolicy('docs', 'v1') });
    const fifo = join(dir, 'deny.json');
    execFileSync('mkfifo', [fifo]);
    // Opening the FIFO for writing blocks until someone opens it for reading.
    const writer = spawn(process.execPath, ['-e', `require('node:fs').writeFileSync(${JSON.stringify(fifo)}, 'x')`], { stdio: 'ignore' });
    const exited = new Promise<number | null>((done) => writer.once('exit', done));
    removals.push(async () => {
      writer.kill();
      await exited;
    });
    const started = Date.now();
    const run = await runCli(['validate', dir]);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error deny.json $: cannot read: not a regular file');
    // Opened here for reading, without waiting for a writer: a writer still waiting on it goes on,
    // writes to this end and exits. Had validate opened it, the writer would have written to
    // validate or failed as it closed, and nothing would come here. (This waited 300 ms to see
    // the writer still waiting.)
    const reader = await open(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      expect(await exited).toBe(0);
      expect((await reader.readFile('utf8'))).toBe('x');
    } finally {
      await reader.close();
    }
  });
});

describe('advice beyond a hint', () => {
  it('refuses a rule whose advice is over 4,096 characters of JSON, with file and path, and takes one at the bound', async () => {
    const dir = await freshDir();
    // {"note":"…"} is 11 characters more than the note.
    await writeFiles(dir, {
      'doc.json': docPolicy('doc', 'P-long', { advice: { note: 'x'.repeat(4_096 - 11 + 1) } }),
      'fine.json': { ...docPolicy('fine', 'P-fine', { advice: { note: 'x'.repeat(4_096 - 11) } }), resource: 'fine' },
    });
    const report = await refusedReport(dir);
    expect(report).toMatchObject({
      ok: false,
      issues: [{ file: 'doc.json', path: '$.rules[0].advice', message: expect.stringContaining('at most 4096 characters of JSON') }],
    });
  });
});

describe('rule ids of one resource type', () => {
  it('refuses a rule id another policy of the same resource type uses, since fixtures and audit lines name rules by id', async () => {
    const dir = await freshDir();
    await writeFiles(dir, {
      'a.json': docPolicy('a', 'R1'),
      'b.json': { ...docPolicy('b', 'R1'), rules: [{ id: 'R1', effect: 'deny', actions: ['read'], condition: 'has(context.frozen)' }] },
      // Another resource type may reuse it.
      'c.json': { ...docPolicy('c', 'R1'), resource: 'other' },
    });
    const report = await refusedReport(dir);
    expect(report).toMatchObject({
      ok: false,
      issues: [{ file: 'b.json', path: '$.rules[0].id', rule: 'R1', message: 'duplicate rule id "R1" (also at a.json $.rules[0].id, in policy "a" for resource type "doc": rule ids are unique per resource type)' }],
    });
  });
});

describe('action names', () => {
  it.each([
    ['a zero-width space', 'read\u200b'],
    ['a trailing space', 'read '],
    ['a control character', 'read\u0007'],
    ['a direction mark', '\u200eread'],
  ])('refuses one holding %s, as roles and scopes are: a deny on it beside a permit on "read" never applied', async (_, action) => {
    const dir = await freshDir();
    await writeFiles(dir, { 'docs.json': { id: 'docs', resource: 'doc', rules: [{ id: 'permit-read', effect: 'permit', actions: ['read'] }, { id: 'deny-read', effect: 'deny', actions: ['write', action] }] } });
    const report = await refusedReport(dir);
    expect(report).toMatchObject({
      ok: false,
      issues: [{ file: 'docs.json', path: '$.rules[1].actions[1]', rule: 'deny-read', message: expect.stringContaining('no whitespace, control or invisible characters') }],
    });
  });

  it('refuses two names of one resource type that differ only in case or form, naming both paths', async () => {
    const dir = await freshDir();
    await writeFiles(dir, {
      'a.json': { id: 'a', resource: 'invoice', rules: [{ id: 'permit-approve', effect: 'permit', actions: ['read', 'approve'] }, { id: 'deny-approve', effect: 'deny', actions: ['Approve'] }] },
      // Another policy of the same resource type, full-width; and another type, which may spell it its own way.
      'b.json': { id: 'b', resource: 'invoice', rules: [{ id: 'deny-read', effect: 'deny', actions: ['\uff52\uff45\uff41\uff44'] }] },
      'c.json': { id: 'c', resource: 'report', rules: [{ id: 'approve-report', effect: 'permit', actions: ['Approve'] }] },
    });
    const report = await refusedReport(dir);
    const oneAction = 'differ only in case or form (accents, width, ligatures), and the engine takes them for one action: name it one way';
    expect(report).toMatchObject({
      ok: false,
      issues: [
        { file: 'a.json', path: '$.rules[1].actions[0]', rule: 'deny-approve', message: `"Approve" and "approve" (a.json $.rules[0].actions[1]) ${oneAction}` },
        { file: 'b.json', path: '$.rules[0].actions[0]', rule: 'deny-read', message: `"\uff52\uff45\uff41\uff44" and "read" (a.json $.rules[0].actions[0]) ${oneAction}` },
      ],
    });
    expect((await runCli(['fmt', dir, '--check'])).stderr).toContain(`error a.json $.rules[1].actions[0] (rule deny-approve): "Approve" and "approve"`);
  });

  /** What `pdp validate` says, line by line, of a file whose `count` deny rules spell "read" as "Read". */
  async function clashLines(count: number): Promise<string[]> {
    const dir = await freshDir();
    const rules = [{ id: 'r', effect: 'permit', actions: ['read'] }, ...Array.from({ length: count }, (_, i) => ({ id: `r${i}`, effect: 'deny', actions: ['Read'] }))];
    await writeFiles(dir, { 'docs.json': { id: 'docs', resource: 'doc', rules } });
    const run = await runCli(['validate', dir]);
    expect(run.code).toBe(1);
    return run.stderr.trimEnd().split('\n');
  }

  it('reports the first 100 such names of a file, and that there are more', async () => {
    const lines = await clashLines(150);
    expect(lines[0]).toMatch(/^error docs\.json \$\.rules\[1\]\.actions\[0\] \(rule r0\): "Read" and "read" /);
    expect(lines.slice(-2)).toEqual(['error docs.json $: more problems in this file, not listed beyond the first 100', 'invalid: 101 problem(s)']);
  });

  it('lists exactly 100 such names of a file without a line saying there are more', async () => {
    const lines = await clashLines(100);
    expect(lines.slice(-2)).toEqual([expect.stringMatching(/^error docs\.json \$\.rules\[100\]\.actions\[0\] \(rule r99\): "Read" and "read" /), 'invalid: 100 problem(s)']);
  });
});

describe('resource types', () => {
  it.each([
    ['a zero-width space', 'doc\u200b'],
    ['a trailing space', 'doc '],
    ['a control character', 'doc\u0007'],
  ])('refuses one holding %s, as action names are: its deny rules beside a permit for "doc" never applied', async (_, resource) => {
    const dir = await freshDir();
    await writeFiles(dir, {
      'docs.json': { id: 'docs', resource: 'doc', rules: [{ id: 'permit-read', effect: 'permit', actions: ['read'] }] },
      'freeze.json': { id: 'freeze', resource, rules: [{ id: 'deny-read', effect: 'deny', actions: ['read'] }] },
    });
    const report = await refusedReport(dir);
    expect(report).toMatchObject({
      ok: false,
      issues: [{ file: 'freeze.json', path: '$.resource', message: expect.stringContaining('no whitespace, control or invisible characters') }],
    });
  });
});

describe('resource type spellings', () => {
  it('refuses two that differ only in case or form, naming the first file: the deny rules of one never applied to requests for the other', async () => {
    const dir = await freshDir();
    await writeFiles(dir, {
      'a.json': { id: 'a', resource: 'invoice', rules: [{ id: 'permit-read', effect: 'permit', actions: ['read'] }] },
      'b.json': { id: 'b', resource: 'Invoice', rules: [{ id: 'deny-read', effect: 'deny', actions: ['read'] }] },
      'c.json': { id: 'c', resource: '\uff49\uff4e\uff56\uff4f\uff49\uff43\uff45', rules: [{ id: 'deny-all', effect: 'deny', actions: ['*'] }] },
      // Spelt the same way, several policies share a type.
      'd.json': { id: 'd', resource: 'invoice', rules: [{ id: 'deny-delete', effect: 'deny', actions: ['delete'] }] },
    });
    const report = await refusedReport(dir);
    const oneType = 'differ only in case or form (accents, width, ligatures): a request names one, and the policies of the other never apply to it; name the resource type one way';
    expect(report).toEqual({
      ok: false,
      issues: [
        { file: 'b.json', path: '$.resource', message: `"Invoice" and "invoice" (a.json $.resource) ${oneType}` },
        { file: 'c.json', path: '$.resource', message: `"\uff49\uff4e\uff56\uff4f\uff49\uff43\uff45" and "invoice" (a.json $.resource) ${oneType}` },
      ],
    });
  });
});
