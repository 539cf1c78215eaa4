import { execFile } from 'node:child_process';
import { chmod, readdir, readFile, readlink, stat, symlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { tempDir, writeFiles, type PolicyFiles } from './helpers/policy-dir.js';

const cliJs = resolve(import.meta.dirname, '../dist/cli/main.js');

/** `pdp ARGS` with its file size limit at `blocks` KiB (`ulimit -f`), so a write is cut short with EFBIG. */
function runCliWithFileSizeLimit(blocks: number, args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done) => {
    execFile('sh', ['-c', `ulimit -f ${blocks} && exec "$@"`, 'sh', process.execPath, cliJs, ...args], { env: { PATH: process.env['PATH'], NO_COLOR: '1' } }, (error, _stdout, stderr) => {
      done({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stderr });
    });
  });
}

/** A valid policy whose compact text is well over 2 KiB, and longer formatted. */
function widePolicy(id: string): string {
  const rules = Array.from({ length: 40 }, (_, i) => ({ id: `r${i}`, effect: 'permit', actions: ['read'], roles: [`role-${i}`] }));
  return JSON.stringify({ id, resource: `doc-${id}`, rules });
}

describe.concurrent('pdp fmt writes a file whole or not at all', () => {
  const dirs: { path: string; remove: () => Promise<void> }[] = [];
  const fixtureDir = async (files: PolicyFiles) => {
    const dir = await tempDir('pdp-fmt-');
    dirs.push(dir);
    await writeFiles(dir.path, files);
    return dir.path;
  };
  afterAll(async () => {
    await Promise.all(dirs.map((d) => d.remove()));
  });

  it('keeps the file as it was when the write is cut short, and leaves nothing beside it', async ({ expect }) => {
    const text = widePolicy('docs');
    const dir = await fixtureDir({ 'docs.json': text });
    const run = await runCliWithFileSizeLimit(2, ['fmt', dir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error docs.json $: cannot write: EFBIG');
    expect(await readFile(join(dir, 'docs.json'), 'utf8')).toBe(text);
    expect(await readdir(dir)).toEqual(['docs.json']);
  });

  it('formats through a link, which stays a link, and keeps the file mode', async ({ expect }) => {
    const dir = await fixtureDir({ 'real/docs.json': widePolicy('docs') });
    const policies = await fixtureDir({});
    await symlink(join(dir, 'real/docs.json'), join(policies, 'docs.json'));
    await chmod(join(dir, 'real/docs.json'), 0o640);
    const run = await runCli(['fmt', policies]);
    expect(run.code).toBe(0);
    expect(await readlink(join(policies, 'docs.json'))).toBe(join(dir, 'real/docs.json'));
    expect(await readFile(join(dir, 'real/docs.json'), 'utf8')).toMatch(/^{\n {2}"id": "docs",/);
    expect((await stat(join(dir, 'real/docs.json'))).mode & 0o777).toBe(0o640);
    expect(await readdir(join(dir, 'real'))).toEqual(['docs.json']);
  });

  it('leaves a file over the 16 MiB the loader reads as it is, unread, as validate refuses it', async ({ expect }) => {
    const text = `${widePolicy('docs')}${' '.repeat(16 * 1024 * 1024)}`;
    const dir = await fixtureDir({ 'docs.json': text });
    const run = await runCli(['fmt', dir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error docs.json $: cannot read: larger than 16777216 bytes');
    expect((await stat(join(dir, 'docs.json'))).size).toBe(text.length);
  });

  it('does not write a file that formatted would outgrow what the loader reads', async ({ expect }) => {
    // Compact, a third of a megabyte; formatted one member a line, each nested level indented, over 16 MiB.
    // Three runs of the CLI, ~4 s alone and past vitest's 20 s beside the other files on a loaded host.
    const nested = `${'['.repeat(40)}0${']'.repeat(40)}`;
    const list = `[${Array.from({ length: 1000 }, () => nested).join(',')}]`;
    const context = `{${['a', 'b', 'c', 'd', 'e'].map((key) => `"${key}":${list}`).join(',')}}`;
    const text = `{"cases":[{"name":"deep","request":{"subject":{"id":"u"},"action":"read","resource":{"type":"doc"},"context":${context}},"expect":{"decision":"permit"}}]}`;
    const dir = await fixtureDir({ 'docs.json': JSON.parse(widePolicy('docs')) as unknown, 'tests/deep.json': text });
    expect((await runCli(['validate', dir])).code).toBe(0);
    const run = await runCli(['fmt', dir, '--json']);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as { files: { file: string; error?: string }[] };
    expect(report.files.find((f) => f.file === 'tests/deep.json')?.error).toMatch(/^formatted, it would be \d+ bytes, over the 16777216 the loader reads/);
    expect(await readFile(join(dir, 'tests/deep.json'), 'utf8')).toBe(text);
    expect((await runCli(['validate', dir])).code).toBe(0);
  }, 60_000);
});

describe.concurrent('pdp fmt keeps every number as written', () => {
  const dirs: { path: string; remove: () => Promise<void> }[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => d.remove()));
  });
  const policyWithAdvice = (advice: string) => `{"id":"docs","resource":"doc","rules":[{"id":"r1","effect":"permit","actions":["read"],"advice":${advice}}]}`;

  it.for([
    ['12345678901234567890', '$.rules[0].advice.id', '12345678901234567000'],
    ['[1, 0.10000000000000000001]', '$.rules[0].advice.id[1]', '0.1'],
    ['{"small": 1e-400}', '$.rules[0].advice.id.small', '0'],
  ] as const)('leaves alone, exit 1, a number a double does not hold: %s', async ([value, path, reads], { expect }) => {
    const dir = await tempDir('pdp-fmt-');
    dirs.push(dir);
    const text = policyWithAdvice(`{"id": ${value}}`);
    await writeFiles(dir.path, { 'docs.json': text });
    for (const args of [['fmt', dir.path], ['fmt', dir.path, '--check']]) {
      const run = await runCli(args);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`error docs.json ${path}: `);
      expect(run.stderr).toContain(`is not exactly a double and would be read as ${reads}: write that, or the value as a string`);
      // The totals say a file was left out, not that all is well.
      expect(run.stdout).toContain(args.includes('--check') ? '0 of 1 files need formatting, 1 not checked (see the errors above)' : '1 files checked, 0 reformatted, 1 not formatted (see the errors above)');
    }
    expect(await readFile(join(dir.path, 'docs.json'), 'utf8')).toBe(text);
  });

  it('rewrites numbers whose value stays the same, whatever their spelling', async ({ expect }) => {
    const dir = await tempDir('pdp-fmt-');
    dirs.push(dir);
    await writeFiles(dir.path, { 'docs.json': policyWithAdvice('{"n": [1.50, 1E5, -0.0, 0e999, 5e-324, 1e21, 0.30000000000000004, 9007199254740992]}') });
    const run = await runCli(['fmt', dir.path]);
    expect(run.code).toBe(0);
    expect(await readFile(join(dir.path, 'docs.json'), 'utf8')).toContain('"n": [1.5, 100000, -0, 0, 5e-324, 1e+21, 0.30000000000000004, 9007199254740992]');
  });
});

describe('pdp test --junit writes its report whole or not at all', () => {
  const policies = resolve(import.meta.dirname, '../policies');
  const dirs: { path: string; remove: () => Promise<void> }[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => d.remove()));
  });

  it('leaves no report, or the one there before, when the write is cut short, and nothing beside it', async ({ expect }) => {
    const dir = await tempDir('pdp-junit-');
    dirs.push(dir);
    await writeFiles(dir.path, { 'old.xml': '<testsuites/>\n' });
    for (const name of ['new.xml', 'old.xml']) {
      // The shipped cases make a report of some 16 KiB.
      const run = await runCliWithFileSizeLimit(4, ['test', policies, '--junit', join(dir.path, name)]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`pdp test: cannot write the JUnit report to ${join(dir.path, name)}: EFBIG`);
    }
    expect(await readdir(dir.path)).toEqual(['old.xml']);
    expect(await readFile(join(dir.path, 'old.xml'), 'utf8')).toBe('<testsuites/>\n');
    const run = await runCli(['test', policies, '--junit', join(dir.path, 'new.xml')]);
    expect(run.code).toBe(0);
    expect(await readFile(join(dir.path, 'new.xml'), 'utf8')).toMatch(/^<\?xml [^]*<\/testsuites>\n$/);
  });
});
