import { execFile } from 'node:child_process';
import { chmod, readFile, stat, symlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { defaultPolicyDir } from './helpers/app.js';
import { runCli } from './helpers/cli.js';
import { runCli as runCliWithEnv } from './helpers/process.js';
import { tempDir, writeFiles, type PolicyFiles } from './helpers/policy-dir.js';

function commandSucceeds(command: string, args: readonly string[]): Promise<boolean> {
  return new Promise((done) => execFile(command, [...args], (error) => done(error === null)));
}

const analyst = { id: 'a1', properties: { roles: ['analyst'] } };
const exportReport = { subject: analyst, action: 'export', resource: { type: 'report', id: 'r1' } };
const readReport = { subject: analyst, action: 'read', resource: { type: 'report', id: 'r1' } };

/** Time-dependent rules, so `now` in fixtures and `--now` matter. 2025-03-01 is a Saturday. */
const reportsPolicy = {
  id: 'reports',
  resource: 'report',
  rules: [
    { id: 'read-in-office-hours', effect: 'permit', actions: ['read'], roles: ['analyst'], condition: 'now.getHours() >= 8 && now.getHours() < 18' },
    { id: 'no-export-on-weekends', effect: 'deny', actions: ['export'], condition: 'now.getDayOfWeek() == 0 || now.getDayOfWeek() == 6', advice: { retry: 'monday' } },
    { id: 'export-analysts', effect: 'permit', actions: ['export'], roles: ['analyst'] },
  ],
};

/** Passing cases that never see the office-hours condition false nor the weekend rule apply. */
const partialTests = {
  now: '2025-03-03T10:00:00Z',
  cases: [{ name: 'analyst exports on a Monday', request: exportReport, expect: { decision: 'permit', rules: ['export-analysts'] } }],
  groups: [
    {
      name: 'office hours',
      now: '2025-03-03T09:00:00Z',
      cases: [{ name: 'analyst reads in the morning', request: readReport, expect: { decision: 'permit', rules: ['read-in-office-hours'] } }],
    },
  ],
};

/** Every side of every rule, with per-case and per-group `now`, reasons and advice. */
const fullTests = {
  groups: [
    {
      name: 'office hours',
      now: '2025-03-03T09:00:00Z',
      cases: [
        { name: 'reads in the morning', request: readReport, expect: { decision: 'permit', rules: ['read-in-office-hours'] } },
        { name: 'no reading at night', now: '2025-03-03T22:00:00Z', request: readReport, expect: { decision: 'deny', reasons: ['no_applicable_rule'] } },
      ],
    },
    {
      name: 'weekends',
      cases: [
        { name: 'export on a Saturday asks to retry', now: '2025-03-01T10:00:00Z', request: exportReport, expect: { decision: 'deny', rules: ['no-export-on-weekends'], advice: [{ retry: 'monday' }] } },
        { name: 'export on a Monday', now: '2025-03-03T10:00:00Z', request: exportReport, expect: { decision: 'permit', rules: ['export-analysts'], advice: [] } },
      ],
    },
  ],
};

const failingTests = {
  now: '2025-03-03T10:00:00Z',
  groups: [
    {
      name: 'wrong',
      cases: [
        { name: 'passes', request: exportReport, expect: { decision: 'permit' } },
        { name: 'expects the wrong advice', request: exportReport, expect: { decision: 'permit', advice: [{ retry: 'never' }] } },
        { name: 'expects a reason that is not there', request: readReport, expect: { decision: 'permit', reasons: ['condition_error'] } },
      ],
    },
  ],
};

describe.concurrent('pdp CLI (through its process)', () => {
  const dirs: { path: string; remove: () => Promise<void> }[] = [];
  const fixtureDir = async (files: PolicyFiles) => {
    const dir = await tempDir('pdp-cli-');
    dirs.push(dir);
    await writeFiles(dir.path, files);
    return dir.path;
  };
  let full: string;
  let partial: string;
  let failing: string;
  let broken: string;
  let requests: string;
  beforeAll(async () => {
    full = await fixtureDir({ 'reports.json': reportsPolicy, 'tests/reports.json': fullTests });
    partial = await fixtureDir({ 'reports.json': reportsPolicy, 'tests/reports.json': partialTests });
    failing = await fixtureDir({ 'reports.json': reportsPolicy, 'tests/reports.json': failingTests });
    broken = await fixtureDir({
      'reports.json': { ...reportsPolicy, rules: [{ ...reportsPolicy.rules[0], condition: 'now.getHours() >= "8"' }] },
      'other.json': '{ "id": "other", ',
    });
    requests = await fixtureDir({
      'export.json': exportReport,
      // Each field one character over what POST /decide takes.
      'bad.json': { subject: { id: 'i'.repeat(1025) }, action: 'a'.repeat(257), resource: { type: 't'.repeat(257) } },
      // Within every limit but a MAX_BODY_BYTES under its size.
      'large.json': `${JSON.stringify(exportReport)}${' '.repeat(1024)}`,
    });
  });
  afterAll(async () => {
    await Promise.all(dirs.map((d) => d.remove()));
  });

  describe('usage', () => {
    it('prints help on stdout with exit 0', async ({ expect }) => {
      const run = await runCli(['help']);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('usage: pdp <command>');
      expect(run.stdout).toContain('exit codes');
    });

    it('takes -h and --help after `--` for operands, as every other argument there', async ({ expect }) => {
      const run = await runCli(['validate', '--', '-h']);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain('error -h $: cannot read policy directory: ENOENT');
      expect((await runCli(['validate', '-h', '--', 'policies'])).stdout).toContain('usage: pdp <command>');
    });

    it.for([
      ['check', 'policies', '--request', 'x.json', '-h'],
      ['check', '--help', 'policies', '--request'],
      ['fmt', '--check', '-h'],
      ['test', '--junit', 'out.xml', '--help'],
      ['token', '--claims', '{}', '-h'],
    ] as const)('prints help, exit 0, for -h or --help among the options of %j, wherever an option does not take it as its value', async (args, { expect }) => {
      const run = await runCli(args);
      expect([run.code, run.stderr]).toEqual([0, '']);
      expect(run.stdout).toContain('usage: pdp <command>');
    });

    it('reads a file named -h given as --request=-h, as an option\'s value', async ({ expect }) => {
      const run = await runCli(['check', full, '--request=-h'], { cwd: full });
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(/^error -h \$: cannot read the request/);
    });

    it.for([
      [[], 'a command is required'],
      [['frobnicate'], 'unknown command "frobnicate"'],
      // Names every object has, which are no commands.
      [['constructor'], 'unknown command "constructor"'],
      [['toString'], 'unknown command "toString"'],
      [['validate', '--frob'], "Unknown option '--frob'"],
      [['validate', 'a', 'b'], 'expected one directory'],
      [['check', 'policies'], '--request FILE is required'],
      [['check', 'policies', '--request', ''], '--request FILE is required'],
      [['test', 'policies', '--min-coverage', 'most'], '--min-coverage takes a percentage'],
      [['test', 'policies', '--min-coverage', '101'], '--min-coverage takes a percentage'],
      [['check', 'policies', '--request', 'x.json', '--now', 'yesterday'], '--now takes an RFC 3339 date-time'],
      // Year 10000 in UTC, and year 0: no clock the server reads is there, and CEL timestamps stop at 0001 and 9999.
      [['check', 'policies', '--request', 'x.json', '--now', '9999-12-31T23:30:00-01:00'], '--now takes an RFC 3339 date-time'],
      [['check', 'policies', '--request', 'x.json', '--now', '0000-06-01T00:00:00Z'], '--now takes an RFC 3339 date-time'],
      // RFC 3339 allows a lower-case t and z; conditions' timestamp() does not, as Go's RFC 3339 layout.
      [['check', 'policies', '--request', 'x.json', '--now', '2025-03-01t09:00:00z'], 'with upper-case T and Z, as conditions\' timestamp() reads it'],
      [['schema', 'everything'], 'pdp schema: takes one optional argument: policy, fixture or entities'],
      [['test', 'policies', '--min-coverage', '0x32'], '--min-coverage takes a percentage'],
      [['bogus', '--help'], 'unknown command "bogus"'],
    ] as const)('exits 2 for %j', async ([args, message], { expect }) => {
      const run = await runCli(args);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(message);
      expect(run.stdout).toBe('');
    });
    it.for([
      ['--request', ['check', 'policies', '--request', 'a.json', '--request', 'b.json']],
      ['--request', ['check', 'policies', '--request=a.json', '--now', '2025-03-01T10:00:00Z', '--request', 'a.json']],
      ['--now', ['check', 'policies', '--now', '2025-03-01T10:00:00Z', '--request', 'a.json', '--now', '2025-03-02T10:00:00Z']],
      ['--min-coverage', ['test', 'policies', '--min-coverage', '50', '--min-coverage', '90']],
      ['--junit', ['test', 'policies', '--junit', 'no-such-dir/a.xml', '--junit', 'no-such-dir/b.xml']],
      ['--key', ['token', '--key', 'a.json', '--key', 'b.json', '--iss', 'https://issuer.example', '--aud', 'api', '--claims', '{"sub":"a"}']],
      ['--iss', ['token', '--key', 'k.json', '--iss', 'https://a.example', '--iss', 'https://b.example', '--aud', 'api', '--claims', '{"sub":"a"}']],
      ['--aud', ['token', '--key', 'k.json', '--iss', 'https://issuer.example', '--aud', 'api', '--aud', 'other', '--claims', '{"sub":"a"}']],
      ['--claims', ['token', '--key', 'k.json', '--iss', 'https://issuer.example', '--aud', 'api', '--claims', '{"sub":"a"}', '--claims', '{"sub":"b"}']],
      ['--ttl', ['token', '--key', 'k.json', '--iss', 'https://issuer.example', '--aud', 'api', '--claims', '{"sub":"a"}', '--ttl', '60', '--ttl', '600']],
    ] as const)('refuses, exit 2, %s given twice rather than take the last without a word', async ([option, args], { expect }) => {
      const run = await runCli(args);
      expect([run.code, run.stdout, run.stderr]).toEqual([2, '', `pdp ${args[0]}: ${option} is given more than once: it takes one value (pdp help shows the usage)\n`]);
    });
    it('takes a flag given twice, which says the same thing twice', async ({ expect }) => {
      const run = await runCli(['validate', defaultPolicyDir, '--json', '--json']);
      expect([run.code, (JSON.parse(run.stdout) as { ok: boolean }).ok]).toEqual([0, true]);
    });
    it.for([
      ['--junit', ['test', 'policies', '--junit', '--json']],
      ['--request', ['check', 'policies', '--request', '--now', '2025-03-01T10:00:00Z']],
      ['--ttl', ['token', '--key', 'k.json', '--iss', 'https://issuer.example', '--aud', 'api', '--claims', '{"sub":"a"}', '--ttl', '-5']],
      // A value that reads as a request for help is refused as any other starting with a dash, not taken for one.
      ['--request', ['check', 'policies', '--request', '-h']],
      ['--junit', ['test', 'policies', '--junit', '--help']],
      ['--claims', ['token', '--key', 'k.json', '--iss', 'https://issuer.example', '--aud', 'api', '--claims', '-h']],
    ] as const)('says in one line, exit 2, that %s takes a value when what follows it starts with a dash', async ([, args], { expect }) => {
      const run = await runCli(args);
      expect(run.code).toBe(2);
      expect(run.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^pdp \w+: Option '--\w+' argument is ambiguous\. .*'--\w+=-XYZ'\. \(pdp help shows the usage\)$/)]);
    });
  });

  describe('output', () => {
    it.runIf(process.platform === 'linux').for([
      ['validate', defaultPolicyDir],
      ['schema'],
    ])('exits 1 with one line, no stack trace, when stdout cannot be written: %j', async (args, { expect }) => {
      const cli = resolve(import.meta.dirname, '../dist/cli/main.js');
      const run = await new Promise<{ code: unknown; stderr: string }>((done) => {
        execFile('sh', ['-c', 'exec "$@" > /dev/full', 'sh', process.execPath, cli, ...args], { env: { PATH: process.env['PATH'] } }, (error, _stdout, stderr) => done({ code: error?.code ?? 0, stderr }));
      });
      expect(run.code).toBe(1);
      expect(run.stderr).toBe('pdp: cannot write the output: ENOSPC: no space left on device, write\n');
    });

    /** The exit code of `pdp ARGS | true` (`2>&1 | true` with `stderr`): the reader is gone before the first line. */
    const exitIntoClosedPipe = (args: readonly string[], options: { stderr?: boolean; env?: Readonly<Record<string, string>> } = {}) => {
      const cli = resolve(import.meta.dirname, '../dist/cli/main.js');
      const pipe = options.stderr === true ? '2>&1 |' : '|';
      return new Promise<unknown>((done) => {
        execFile('bash', ['-c', `set -o pipefail; "$@" ${pipe} true`, 'bash', process.execPath, cli, ...args], { env: { PATH: process.env['PATH'], ...options.env } }, (error) => done(error?.code ?? 0));
      });
    };

    it('exits as it would have when the reader stops early, its JUnit report written', async ({ expect }) => {
      const report = join(failing, 'report.xml');
      expect(await exitIntoClosedPipe(['test', failing, '--junit', report])).toBe(1);
      expect(await readFile(report, 'utf8')).toContain('failures="2"');
    });

    it('exits as it would have when the reader of stderr stops early too, the JUnit report written whole', async ({ expect }) => {
      // A warning of a setting not read is all a passing run writes on stderr.
      expect(await exitIntoClosedPipe(['test', full], { stderr: true, env: { CLAIMS_SUBJECT: 'sub' } })).toBe(0);
      const dir = await fixtureDir({ 'reports.json': reportsPolicy, 'other.json': '{ "id": "other", ' });
      const report = join(dir, 'report.xml');
      // A refused policy set is reported on stderr, then in the report.
      expect(await exitIntoClosedPipe(['test', dir, '--junit', report], { stderr: true })).toBe(1);
      expect(await readFile(report, 'utf8')).toContain('<testcase classname="policy set" name="other.json $">');
    });
  });

  describe('validate', () => {
    it('accepts the shipped policies and their tests', async ({ expect }) => {
      const run = await runCli(['validate', defaultPolicyDir]);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^ok: 1 policies, 9 rules, 5 test files, version [0-9a-f]{16}\n$/);
      const json = await runCli(['validate', defaultPolicyDir, '--json']);
      expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, policies: 1, rules: 9, testFiles: 5 });
    });

    it('lists every problem with file, path and rule, exit 1', async ({ expect }) => {
      const run = await runCli(['validate', broken]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('other.json $: not valid JSON');
      expect(run.stderr).toContain('reports.json $.rules[0].condition (rule read-in-office-hours): type: no such overload');
      expect(run.stderr).toContain('invalid: 2 problem(s)');
      const json = await runCli(['validate', broken, '--json']);
      expect(json.code).toBe(1);
      expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, issues: [{ file: 'other.json' }, { file: 'reports.json', rule: 'read-in-office-hours' }] });
    });

    it('reports a test file\'s own problems beside those of the policies, rather than in a later run', async ({ expect }) => {
      const dir = await fixtureDir({
        'reports.json': { ...reportsPolicy, rules: [{ ...reportsPolicy.rules[0], condition: 'now.getHours() >= "8"' }] },
        'tests/reports.json': { cases: [{ name: 'no expectation', request: readReport }] },
      });
      for (const command of ['validate', 'test']) {
        const run = await runCli([command, dir]);
        expect(run.code).toBe(1);
        expect(run.stderr.trimEnd().split('\n')).toEqual([
          'error reports.json $.rules[0].condition (rule read-in-office-hours): type: no such overload: int >= string at column 1 of the condition: now.getHours() >= "8"',
          'error tests/reports.json $.cases[0].expect: missing: required, an object',
          'invalid: 2 problem(s)',
        ]);
      }
    });

    it('reads ./policies when no directory is given', async ({ expect }) => {
      const cwd = await fixtureDir({ 'policies/reports.json': reportsPolicy });
      const run = await runCli(['validate'], { cwd });
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^ok: 1 policies, 3 rules, 0 test files, version [0-9a-f]{16}\n$/);
    });

    it('exits 1 for a directory that does not exist', async ({ expect }) => {
      const run = await runCli(['validate', join(broken, 'nowhere')]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('cannot read policy directory');
    });

    it.for(['validate', 'test', 'fmt'])('%s given a policy file names the directory to give instead', async (command, { expect }) => {
      const run = await runCli([command, join(defaultPolicyDir, 'invoices.json')]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`$: cannot read policy directory: it is a file: give the directory holding the policies (${defaultPolicyDir})`);
    });
  });

  describe('test', () => {
    it('passes the shipped policies with every rule covered', async ({ expect }) => {
      const run = await runCli(['test', defaultPolicyDir, '--min-coverage', '100']);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('125 passed, 0 failed');
      expect(run.stdout).toContain('coverage: 9/9 rules (100.0%) · permit 6/6 · deny 3/3');
    });

    it('runs groups with file, group and case `now`, checking reasons and advice', async ({ expect }) => {
      const run = await runCli(['test', full, '--coverage', '--json']);
      expect(run.code).toBe(0);
      const report = JSON.parse(run.stdout) as Record<string, unknown>;
      expect(report).toMatchObject({ ok: true, passed: 4, failed: 0, coverage: { percent: 100, permit: { covered: 2, total: 2 }, deny: { covered: 1, total: 1 } } });
      expect(report.cases).toContainEqual({ file: 'tests/reports.json', group: 'weekends', name: 'export on a Saturday asks to retry', path: '$.groups[1].cases[0]', passed: true, failure: '' });
    });

    it('reports each failing case with its path and why, exit 1', async ({ expect }) => {
      const run = await runCli(['test', failing]);
      expect(run.code).toBe(1);
      expect(run.stdout).toContain('✓ wrong › passes');
      expect(run.stdout).toContain('✗ wrong › expects the wrong advice  $.groups[0].cases[1]');
      expect(run.stdout).toContain('expected advice [{"retry":"never"}], got []');
      expect(run.stdout).toContain('expected reasons condition_error, got []');
      expect(run.stdout).toContain('1 passed, 2 failed');
      const json = JSON.parse((await runCli(['test', failing, '--json'])).stdout) as { ok: boolean; failed: number };
      expect(json).toMatchObject({ ok: false, failed: 2 });
    });

    it('writes a case or group name as one line whatever it holds: no line break or terminal escape of its own', async ({ expect }) => {
      const forged = { name: 'passes\n  ✓ every case\u001b[2K', request: exportReport, expect: { decision: 'deny' } };
      const dir = await fixtureDir({ 'reports.json': reportsPolicy, 'tests/reports.json': { now: '2025-03-03T10:00:00Z', groups: [{ name: 'g\u0085', cases: [forged] }] } });
      const run = await runCli(['test', dir]);
      expect(run.code).toBe(1);
      expect(run.stdout).toContain('✗ g\\u{85} › passes\\u{a}  ✓ every case\\u{1b}[2K  $.groups[0].cases[0]');
      expect(run.stdout).not.toContain('\u001b');
      expect(run.stdout).not.toContain('\u0085');
      expect(run.stdout.split('\n').filter((line) => line.includes('every case'))).toHaveLength(1);
    });

    it('writes a name a problem quotes as one line too: a case or group named twice, an action no rule names', async ({ expect }) => {
      const forged = { name: 'twice\n  ✓ every case\u001b[2J', request: exportReport, expect: { decision: 'permit' } };
      const unnamed = { name: 'unnamed', request: { ...exportReport, action: 'print\u001b[2J' }, expect: { decision: 'deny' } };
      const dir = await fixtureDir({ 'reports.json': reportsPolicy, 'tests/reports.json': { cases: [forged, forged, unnamed], groups: [{ name: 'g\u0085', cases: [forged] }, { name: 'g\u0085', cases: [forged] }] } });
      const run = await runCli(['test', dir]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('error tests/reports.json $.cases[1].name: duplicate case name "twice\\u{a}  ✓ every case\\u{1b}[2J" (also at $.cases[0])\n');
      expect(run.stderr).toContain('error tests/reports.json $.groups[1].name: duplicate group name "g\\u{85}" (also at $.groups[0])\n');
      expect(run.stderr).toContain('names the action "print\\u{1b}[2J"');
      expect(run.stderr).not.toContain('\u001b');
      expect(run.stderr).not.toContain('\u0085');
      expect(run.stderr.trimEnd().split('\n').filter((line) => !/^(error|invalid:) /.test(line))).toEqual([]);
    });

    it('refuses, exit 1, a test or policy file holding a number a double does not hold exactly, with file and path', async ({ expect }) => {
      // Read rounded, the case would test another number than the one written.
      const request = '{"subject":{"id":"a","properties":{"roles":["analyst"]}},"action":"export","resource":{"type":"report","properties":{"account":9007199254740993}}}';
      const tests = `{"now":"2025-03-03T10:00:00Z","cases":[{"name":"big","request":${request},"expect":{"decision":"permit"}}]}`;
      const policy = JSON.stringify({ ...reportsPolicy, rules: [{ ...reportsPolicy.rules[2], advice: { '@': 0 } }] }).replace('{"@":0}', '{"limit":0.10000000000000000001}');
      const badPolicy = await runCli(['test', await fixtureDir({ 'reports.json': policy, 'tests/reports.json': fullTests })]);
      expect(badPolicy.code).toBe(1);
      expect(badPolicy.stderr).toContain('reports.json $.rules[0].advice.limit: 0.10000000000000000001 is not exactly a double and would be read as 0.1: write that, or the value as a string');
      const badTest = await runCli(['test', await fixtureDir({ 'reports.json': reportsPolicy, 'tests/reports.json': tests })]);
      expect(badTest.code).toBe(1);
      expect(badTest.stderr).toContain('tests/reports.json $.cases[0].request.resource.properties.account: 9007199254740993 is not exactly a double and would be read as 9007199254740992');
    });

    it('names the rules and sides no case exercised, and fails below --min-coverage', async ({ expect }) => {
      const run = await runCli(['test', partial, '--coverage']);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('coverage: 1/3 rules (33.3%) · permit 1/2 · deny 0/1');
      expect(run.stdout).toContain('reports/read-in-office-hours (permit): never condition false');
      expect(run.stdout).toContain('reports/no-export-on-weekends (deny): never applied');
      expect(run.stdout).not.toContain('export-analysts (permit): never');

      const below = await runCli(['test', partial, '--min-coverage', '50']);
      expect(below.code).toBe(1);
      expect(below.stderr).toContain('coverage 33.3% is below the minimum 50%');
      expect((await runCli(['test', partial, '--min-coverage', '33'])).code).toBe(0);
      const json = JSON.parse((await runCli(['test', partial, '--min-coverage', '50', '--json'])).stdout) as Record<string, unknown>;
      expect(json).toMatchObject({ ok: false, failed: 0, minCoverage: 50 });
      expect((json.coverage as { rules: unknown[] }).rules).toContainEqual({
        policy: 'reports', rule: 'no-export-on-weekends', effect: 'deny', hasCondition: true,
        applied: 0, declined: 1, errored: 0, covered: false, missing: ['applied'],
      });
    });

    it('gives a case the nearest `now`: its own over its group\'s over its file\'s', async ({ expect }) => {
      const monday = '2025-03-03T10:00:00Z';
      const tests = {
        now: '2025-03-01T10:00:00Z',
        cases: [
          { name: 'the file\'s Saturday', request: exportReport, expect: { decision: 'deny', rules: ['no-export-on-weekends'] } },
          { name: 'its own Monday', now: monday, request: exportReport, expect: { decision: 'permit', rules: ['export-analysts'] } },
        ],
        groups: [{ name: 'monday', now: monday, cases: [{ name: 'the group\'s Monday', request: exportReport, expect: { decision: 'permit', rules: ['export-analysts'] } }] }],
      };
      const run = await runCli(['test', await fixtureDir({ 'reports.json': reportsPolicy, 'tests/reports.json': tests }), '--json']);
      expect(JSON.parse(run.stdout)).toMatchObject({ ok: true, passed: 3, failed: 0 });
      expect(run.code).toBe(0);
    });

    it('says why a `now` with a lower-case t or z is refused: conditions\' timestamp() reads upper-case only', async ({ expect }) => {
      const dir = await fixtureDir({ 'reports.json': reportsPolicy, 'tests/reports.json': { ...fullTests, now: '2025-03-03t09:00:00z' } });
      const run = await runCli(['validate', dir]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain("tests/reports.json $.now: an RFC 3339 date-time with upper-case T and Z, as conditions' timestamp() reads it, such as 2025-03-01T09:00:00Z or 2025-03-01T10:00:00.5+01:00\n");
    });

    it('rounds coverage down, so a run below the minimum never reads as reaching it', async ({ expect }) => {
      const saturday = { name: 'export on a Saturday', now: '2025-03-01T10:00:00Z', request: exportReport, expect: { decision: 'deny', rules: ['no-export-on-weekends'] } };
      const dir = await fixtureDir({ 'reports.json': reportsPolicy, 'tests/reports.json': { ...partialTests, cases: [...partialTests.cases, saturday] } });
      const run = await runCli(['test', dir, '--min-coverage', '66.7']);
      expect(run.code).toBe(1);
      expect(run.stdout).toContain('coverage: 2/3 rules (66.6%)');
      expect(run.stderr).toContain('coverage 66.6% is below the minimum 66.7%');
    });

    it('counts a condition that fails to evaluate for neither side of its rule, and says how often it failed', async ({ expect }) => {
      const policy = { id: 'invoices', resource: 'invoice', rules: [{ id: 'small', effect: 'permit', actions: ['read'], condition: 'resource.properties.amount < 100' }] };
      const tests = { cases: [{ name: 'no amount', request: { subject: { id: 'u1' }, action: 'read', resource: { type: 'invoice' } }, expect: { decision: 'deny', reasons: ['condition_error'] } }] };
      const dir = await fixtureDir({ 'invoices.json': policy, 'tests/invoices.json': tests });
      const run = await runCli(['test', dir, '--coverage']);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('invoices/small (permit): never applied, never condition false  applied 0×, condition false 0×, condition error 1×');
      const json = JSON.parse((await runCli(['test', dir, '--coverage', '--json'])).stdout) as { coverage: { rules: unknown[] } };
      expect(json.coverage.rules).toEqual([expect.objectContaining({ rule: 'small', applied: 0, declined: 0, errored: 1, covered: false })]);
    });

    it('refuses, exit 1, a test file without a case or group and a group without a case, with file and path', async ({ expect }) => {
      const dir = await fixtureDir({
        'reports.json': reportsPolicy,
        'tests/reports.json': fullTests,
        'tests/empty.json': { cases: [] },
        'tests/group.json': { groups: [{ name: 'nothing yet', cases: [] }] },
      });
      const run = await runCli(['test', dir]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('tests/empty.json $: a test file needs at least one case or group');
      expect(run.stderr).toContain('tests/group.json $.groups[0].cases:');
    });

    it('exits 1 when there are no test cases, or a test file is invalid', async ({ expect }) => {
      const noTests = await fixtureDir({ 'reports.json': reportsPolicy });
      const empty = await runCli(['test', noTests]);
      expect(empty.code).toBe(1);
      expect(empty.stderr).toContain('no test cases found');
      const invalid = await fixtureDir({ 'reports.json': reportsPolicy, 'tests/bad.json': { cases: [{ name: 'x', request: readReport, expect: { decision: 'maybe' } }] } });
      const run = await runCli(['test', invalid]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('tests/bad.json $.cases[0].expect.decision');
    });

    it('says in --json what failed the run beyond its cases: no case at all, coverage below --min-coverage', async ({ expect }) => {
      const problemsOf = async (args: string[]) => {
        const run = await runCli(['test', ...args, '--json']);
        return { code: run.code, ...(JSON.parse(run.stdout) as { ok: boolean; problems: unknown }) };
      };
      const noTests = await fixtureDir({ 'reports.json': reportsPolicy });
      expect(await problemsOf([noTests])).toMatchObject({ code: 1, ok: false, problems: [`no test cases found in ${noTests}/tests`] });
      expect(await problemsOf([partial, '--min-coverage', '50'])).toMatchObject({ code: 1, ok: false, problems: ['coverage 33.3% is below the minimum 50%'] });
      expect(await problemsOf([failing, '--min-coverage', '0'])).toMatchObject({ code: 1, ok: false, failed: 2, problems: [] });
      expect(await problemsOf([full, '--min-coverage', '100'])).toMatchObject({ code: 0, ok: true, problems: [] });
    });
    it('names the tests folder of a directory given with a trailing slash as one path, without a double slash', async ({ expect }) => {
      const noTests = await fixtureDir({ 'reports.json': reportsPolicy });
      const run = await runCli(['test', `${noTests}/`, '--json']);
      expect([run.code, (JSON.parse(run.stdout) as { problems: unknown }).problems]).toEqual([1, [`no test cases found in ${noTests}/tests`]]);
      expect((await runCli(['test', `${noTests}/`])).stderr).toBe(`no test cases found in ${noTests}/tests\n`);
    });

    it('says on stderr every problem --json lists beyond the cases: no case at all and, asked for, coverage below the minimum', async ({ expect }) => {
      const noTests = await fixtureDir({ 'reports.json': reportsPolicy });
      const run = await runCli(['test', noTests, '--min-coverage', '50']);
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(`no test cases found in ${noTests}/tests\ncoverage 0.0% is below the minimum 50%\n`);
      const json = JSON.parse((await runCli(['test', noTests, '--min-coverage', '50', '--json'])).stdout) as { problems: string[] };
      expect(run.stderr.trimEnd().split('\n')).toEqual(json.problems);
    });
  });

  describe('test --junit', () => {
    it('writes a JUnit report beside the usual output: a suite per file, a failure per failing case with its place, exit as without it', async ({ expect }) => {
      const dir = await fixtureDir({ 'reports.json': reportsPolicy, 'tests/reports.json': failingTests });
      const file = join(dir, 'report.xml');
      const run = await runCli(['test', dir, '--junit', file]);
      expect(run.code).toBe(1);
      expect(run.stdout).toContain('1 passed, 2 failed');
      expect(await readFile(file, 'utf8')).toBe([
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<testsuites name="pdp test" tests="3" failures="2">',
        '  <testsuite name="tests/reports.json" tests="3" failures="2">',
        '    <testcase classname="tests/reports.json" name="wrong › passes"/>',
        '    <testcase classname="tests/reports.json" name="wrong › expects the wrong advice">',
        '      <failure message="expected advice [{&quot;retry&quot;:&quot;never&quot;}], got []">$.groups[0].cases[1]: expected advice [{"retry":"never"}], got []</failure>',
        '    </testcase>',
        '    <testcase classname="tests/reports.json" name="wrong › expects a reason that is not there">',
        '      <failure message="expected reasons condition_error, got []">$.groups[0].cases[2]: expected reasons condition_error, got []</failure>',
        '    </testcase>',
        '  </testsuite>',
        '</testsuites>',
        '',
      ].join('\n'));
    });

    it.for([
      ['escapes markup and writes characters XML cannot hold as \\u{…}, so the report always parses', 'a <b> & "c"\u0001\ud800 😀', 'name="a &lt;b&gt; &amp; &quot;c&quot;\\u{1}\\u{d800} 😀"/>'],
      ['keeps line breaks and tabs of a case name as references, which a reader would otherwise turn into spaces', 'line one\nline two\r\tend', 'name="line one&#10;line two&#13;&#9;end"/>'],
    ] as const)('%s', async ([, name, written], { expect }) => {
      const names = { now: '2025-03-03T10:00:00Z', cases: [{ name, request: exportReport, expect: { decision: 'permit' } }] };
      const dir = await fixtureDir({ 'reports.json': reportsPolicy, 'tests/reports.json': names });
      const file = join(dir, 'report.xml');
      expect((await runCli(['test', dir, '--junit', file])).code).toBe(0);
      expect(await readFile(file, 'utf8')).toContain(written);
    });

    it('reports what fails the run beyond its cases: the policy set refused, no case, coverage below the minimum', async ({ expect }) => {
      const dir = await fixtureDir({ 'reports.json': reportsPolicy, 'tests/reports.json': partialTests });
      const file = join(dir, 'report.xml');
      expect((await runCli(['test', dir, '--min-coverage', '50', '--junit', file, '--json'])).code).toBe(1);
      expect(await readFile(file, 'utf8')).toContain([
        '  <testsuite name="pdp test" tests="1" failures="1">',
        '    <testcase classname="pdp test" name="coverage 33.3% is below the minimum 50%">',
        '      <failure message="coverage 33.3% is below the minimum 50%">coverage 33.3% is below the minimum 50%</failure>',
      ].join('\n'));

      const noTests = await fixtureDir({ 'reports.json': reportsPolicy });
      expect((await runCli(['test', noTests, '--junit', file])).code).toBe(1);
      expect(await readFile(file, 'utf8')).toContain(`<testsuites name="pdp test" tests="1" failures="1">\n  <testsuite name="pdp test" tests="1" failures="1">\n    <testcase classname="pdp test" name="no test cases found in ${noTests}/tests">`);

      expect((await runCli(['test', broken, '--junit', file])).code).toBe(1);
      const refused = await readFile(file, 'utf8');
      expect(refused).toContain('<testsuite name="policy set" tests="2" failures="2">');
      expect(refused).toContain('<testcase classname="policy set" name="other.json $">');
      expect(refused).toMatch(/<testcase classname="policy set" name="reports.json \$\.rules\[0\]\.condition">\n {6}<failure message="[^"]+">reports.json \$\.rules\[0\]\.condition \(rule /);
    });

    it('keeps a carriage return of a failure\'s text as a reference, which a reader would otherwise read as a line feed', async ({ expect }) => {
      const dir = await fixtureDir({ 'reports.json': reportsPolicy, 'bad\r.json': { ...reportsPolicy, id: 'other', resource: 7 } });
      const file = join(dir, 'report.xml');
      expect((await runCli(['test', dir, '--junit', file])).code).toBe(1);
      const report = await readFile(file, 'utf8');
      expect(report).toContain('<testcase classname="policy set" name="bad&#13;.json $.resource">');
      expect(report).toMatch(/<failure message="[^"]+">bad&#13;\.json \$\.resource: /);
      expect(report).not.toContain('\r');
    });

    it('names each problem of a refused policy set apart, two at one place included, as consumers key cases by name', async ({ expect }) => {
      const dir = await fixtureDir({ 'reports.json': { ...reportsPolicy, id: '' } });
      const file = join(dir, 'report.xml');
      const run = await runCli(['test', dir, '--junit', file]);
      expect(run.code).toBe(1);
      expect(run.stderr).toBe([
        'error reports.json $.id: Too small: expected string to have >=1 characters',
        'error reports.json $.id: letters, digits, "_", ".", ":" and "-" only, starting with a letter or digit',
        'invalid: 2 problem(s)',
        '',
      ].join('\n'));
      const report = await readFile(file, 'utf8');
      expect(report).toContain('<testsuite name="policy set" tests="2" failures="2">');
      expect([...report.matchAll(/<testcase classname="policy set" name="([^"]*)">\n {6}<failure message="([^"]*)"/g)].map(([, name, message]) => [name, message])).toEqual([
        ['reports.json $.id', 'Too small: expected string to have &gt;=1 characters'],
        ['reports.json $.id (2)', 'letters, digits, &quot;_&quot;, &quot;.&quot;, &quot;:&quot; and &quot;-&quot; only, starting with a letter or digit'],
      ]);
    });

    it('totals the cases and failures of every suite, the run\'s own problems included', async ({ expect }) => {
      const dir = await fixtureDir({ 'reports.json': reportsPolicy, 'tests/reports.json': partialTests });
      const file = join(dir, 'report.xml');
      expect((await runCli(['test', dir, '--min-coverage', '50', '--junit', file])).code).toBe(1);
      const report = await readFile(file, 'utf8');
      expect(report).toContain('<testsuites name="pdp test" tests="3" failures="1">\n  <testsuite name="tests/reports.json" tests="2" failures="0">');
      expect(report).toContain('<testsuite name="pdp test" tests="1" failures="1">');
    });

    it('fails the run, exit 1, when the report cannot be written; an empty file name is a usage error', async ({ expect }) => {
      const run = await runCli(['test', full, '--junit', join(full, 'no-such-folder', 'report.xml')]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('pdp test: cannot write the JUnit report to');
      expect(run.stderr).toContain('ENOENT');
      expect((await runCli(['test', full, '--junit', ''])).code).toBe(2);
    });

    it('names a report it cannot write in one line whatever its name holds: no line break or terminal escape of its own', async ({ expect }) => {
      const run = await runCli(['test', full, '--junit', join(full, 'no-such-folder\nok\u001b[2J', 'report.xml')]);
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(`pdp test: cannot write the JUnit report to ${full}/no-such-folder\\u{a}ok\\u{1b}[2J/report.xml: ENOENT: no such file or directory, access '${full}/no-such-folder\\u{a}ok\\u{1b}[2J'\n`);
    });

    it('prints the run as without it when the report cannot be written: the cases, the JSON, a refused policy set with file and path', async ({ expect }) => {
      const unwritable = join(full, 'no-such-folder', 'report.xml');
      const text = await runCli(['test', failing, '--junit', unwritable]);
      expect(text.code).toBe(1);
      expect(text.stdout).toContain('1 passed, 2 failed');
      expect(text.stderr).toContain('pdp test: cannot write the JUnit report to');

      const json = await runCli(['test', full, '--junit', unwritable, '--json']);
      expect(json.code).toBe(1);
      // The JSON tells why the run failed, as the exit code does.
      expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, passed: 4, failed: 0, problems: [expect.stringContaining(`cannot write the JUnit report to ${unwritable}: ENOENT`)] });
      expect(json.stderr).toContain('pdp test: cannot write the JUnit report to');

      const refused = await runCli(['test', broken, '--junit', unwritable]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('other.json $: not valid JSON');
      expect(refused.stderr).toContain('reports.json $.rules[0].condition');
      expect(refused.stderr).toContain('pdp test: cannot write the JUnit report to');
    });
  });

  describe('check', () => {
    it('decides one request offline and explains every rule', async ({ expect }) => {
      const run = await runCli(['check', full, '--request', join(requests, 'export.json'), '--now', '2025-03-01T10:00:00Z']);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('decision: deny');
      expect(run.stdout).toContain('reports/no-export-on-weekends (deny)');
      expect(run.stdout).toContain('reports/no-export-on-weekends {"retry":"monday"}');
      expect(run.stdout).toMatch(/applies deny +reports\/no-export-on-weekends/);
      expect(run.stdout).toMatch(/applies permit reports\/export-analysts +\(a deny overrides it\)/);
      expect(run.stdout).toContain('condition not evaluated');
    });

    it('prints the decision and its explain trace as JSON, reading the request from stdin', async ({ expect }) => {
      const run = await runCli(['check', full, '--request', '-', '--now', '2025-03-03T10:00:00Z', '--json'], { input: JSON.stringify(exportReport) });
      expect(run.code).toBe(0);
      const body = JSON.parse(run.stdout) as Record<string, unknown>;
      expect(body).toMatchObject({
        ok: true,
        decision: 'permit',
        reasons: [{ policy: 'reports', rule: 'export-analysts', effect: 'permit' }],
        advice: [],
        now: '2025-03-03T10:00:00.000Z',
        policyVersion: expect.stringMatching(/^[0-9a-f]{16}$/),
      });
      expect(body.explain).toEqual([
        { policy: 'reports', rule: 'no-export-on-weekends', effect: 'deny', applied: false, action: true, roles: null, scopes: null, condition: { expression: 'now.getDayOfWeek() == 0 || now.getDayOfWeek() == 6', value: false } },
        { policy: 'reports', rule: 'read-in-office-hours', effect: 'permit', applied: false, action: false, roles: true, scopes: null, condition: { expression: 'now.getHours() >= 8 && now.getHours() < 18' } },
        { policy: 'reports', rule: 'export-analysts', effect: 'permit', applied: true, action: true, roles: true, scopes: null, condition: null },
      ]);
    });

    it('exits 1 with the failing field of an invalid request, or for invalid policies', async ({ expect }) => {
      const run = await runCli(['check', full, '--request', join(requests, 'bad.json')]);
      expect(run.code).toBe(1);
      // The answers of POST /decide to the same body.
      expect(run.stderr).toContain('bad.json $.subject.id: Too big: expected string to have <=1024 characters');
      expect(run.stderr).toContain('bad.json $.action: Too big: expected string to have <=256 characters');
      expect(run.stderr).toContain('bad.json $.resource.type: Too big: expected string to have <=256 characters');
      const missing = await runCli(['check', full, '--request', join(requests, 'missing.json')]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('cannot read the request');
      expect((await runCli(['check', broken, '--request', join(requests, 'export.json')])).code).toBe(1);
    });

    it('refuses a subject id of blanks only, as POST /decide does: nothing is decided offline that the server refuses', async ({ expect }) => {
      const run = await runCli(['check', full, '--request', '-'], { input: JSON.stringify({ ...exportReport, subject: { ...exportReport.subject, id: ' \u200b' } }) });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('$.subject.id: not only whitespace, control or invisible characters: such an id names no one, as a token whose subject claim holds one names no subject');
    });

    it.for([
      ['resource.id', { ...exportReport, resource: { ...exportReport.resource, id: '\u200b ' } }],
      ['resource.type', { ...exportReport, resource: { ...exportReport.resource, type: ' ' } }],
      ['action', { ...exportReport, action: '\u3000' }],
    ] as const)('refuses a $.%s of blanks only, as POST /decide does', async ([field, request], { expect }) => {
      const run = await runCli(['check', full, '--request', '-'], { input: JSON.stringify(request) });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`$.${field}: not only whitespace, control or invisible characters: `);
    });

    it.for([
      ['a number beyond a double', '"approval_limit":1e400', '$.subject.properties.approval_limit: number beyond the range of a double'],
      ['a number a double does not hold exactly', '"employee_no":12345678901234567890', '$.subject.properties.employee_no: 12345678901234567890 is not exactly a double and would be read as 12345678901234567000: write that, or the value as a string'],
      ['an array beyond 1000 elements', `"teams":${JSON.stringify(Array.from({ length: 1001 }, () => 't'))}`, '$.subject.properties.teams: array longer than 1000 elements'],
      ['a string beyond 16384 characters', `"note":"${'n'.repeat(16_385)}"`, '$.subject.properties.note: string longer than 16384 characters'],
    ] as const)('refuses, exit 1, a request with %s, as POST /decide does', async ([, property, message], { expect }) => {
      const body = `{"subject":{"id":"a1","properties":{"roles":["analyst"],${property}}},"action":"export","resource":{"type":"report","id":"r1"}}`;
      const run = await runCli(['check', full, '--request', '-', '--now', '2025-03-03T10:00:00Z'], { input: body });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`(stdin) ${message}`);
      expect(run.stdout).toBe('');
    });

    it('reads no more than MAX_BODY_BYTES of the request, as POST /decide, and only a regular file', async ({ expect }) => {
      const file = join(requests, 'large.json');
      const { size } = await stat(file);
      const large = await runCliWithEnv(['check', full, '--request', file], { MAX_BODY_BYTES: String(size - 1) });
      expect(large.code).toBe(1);
      expect(large.stderr).toContain(`large.json $: cannot read the request: larger than ${size - 1} bytes`);
      const fits = await runCliWithEnv(['check', full, '--request', file, '--now', '2025-03-03T10:00:00Z'], { MAX_BODY_BYTES: String(size) });
      expect([fits.code, fits.stderr]).toEqual([0, '']);
      const device = await runCli(['check', full, '--request', '/dev/zero']);
      expect(device.code).toBe(1);
      expect(device.stderr).toContain('/dev/zero $: cannot read the request: not a regular file');
    });

    it('refuses a stdin that is a directory (`--request - < DIR`) rather than read it as an empty request', async ({ expect }) => {
      const cli = resolve(import.meta.dirname, '../dist/cli/main.js');
      const run = await new Promise<{ code: number | string; stderr: string }>((done) => {
        execFile('sh', ['-c', 'exec "$@" < "$0"', full, process.execPath, cli, 'check', full, '--request', '-'], { env: { PATH: process.env['PATH'], NO_COLOR: '1' } }, (error, _stdout, stderr) => done({ code: error?.code ?? 0, stderr }));
      });
      expect(run).toEqual({ code: 1, stderr: 'error (stdin) $: cannot read the request: stdin is a directory\ninvalid: 1 problem(s)\n' });
    });

    it('stops reading a file at MAX_BODY_BYTES when it holds more than its size said, if only by a byte', async ({ expect }) => {
      // A /proc file is regular and sized 0; this one holds the process's environment ("NAME=value\0"
      // for each variable it is given), here one byte over MAX_BODY_BYTES, whose own digits count too.
      const env = { PATH: process.env['PATH'] ?? '', PADDING: 'x'.repeat(2048), MAX_BODY_BYTES: '' };
      const environBytes = () => Object.entries(env).reduce((total, [name, value]) => total + Buffer.byteLength(`${name}=${value}\0`), 0);
      while (Number(env.MAX_BODY_BYTES) !== environBytes() - 1) env.MAX_BODY_BYTES = String(environBytes() - 1);
      const run = await runCliWithEnv(['check', full, '--request', '/proc/self/environ'], env);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`/proc/self/environ $: cannot read the request: larger than ${env.MAX_BODY_BYTES} bytes`);
    });

    it('explains each rule with its action, roles and scopes marks, a condition that fails with its error, and each reason', async ({ expect }) => {
      const policy = {
        id: 'reports',
        resource: 'report',
        rules: [
          { id: 'read-small', effect: 'permit', actions: ['read'], roles: ['analyst'], condition: 'resource.properties.amount < 100' },
          { id: 'export-analysts', effect: 'permit', actions: ['export'], roles: ['analyst'] },
        ],
      };
      const run = await runCli(['check', await fixtureDir({ 'reports.json': policy }), '--request', '-'], { input: JSON.stringify(readReport) });
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^decision: deny {3}policy version [0-9a-f]{16}\n/);
      expect(run.stdout.split('\n')).toEqual(expect.arrayContaining([
        '  no_applicable_rule: no rule permits "read" on "report"',
        '  condition_error reports/read-small: No such key: amount',
        '          ✓ action  ✓ roles  – scopes  condition error: No such key: amount  resource.properties.amount < 100',
        '          ✗ action  ✓ roles  – scopes  (no condition)',
      ]));
    });

    it('writes what the request names as one line whatever it holds: no line break or terminal escape of its own', async ({ expect }) => {
      const forged = { ...exportReport, action: 'print\n  applies permit reports/export-analysts\u001b[2J\u0085' };
      const run = await runCli(['check', full, '--request', '-'], { input: JSON.stringify(forged) });
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('\n  no_applicable_rule: no rule permits "print\\u{a}  applies permit reports/export-analysts\\u{1b}[2J\\u{85}" on "report"\n');
      expect(run.stdout.split('\n').filter((line) => line.includes('applies'))).toHaveLength(1);
      for (const control of ['\u001b', '\u0085']) expect(run.stdout).not.toContain(control);
      const json = JSON.parse((await runCli(['check', full, '--request', '-', '--json'], { input: JSON.stringify(forged) })).stdout) as { reasons: { detail: string }[] };
      expect(json.reasons).toEqual([{ code: 'no_applicable_rule', detail: `no rule permits "${forged.action}" on "report"` }]);
    });

    it('reads a request of MAX_BODY_BYTES from stdin, and refuses one a byte longer, as POST /decide does', async ({ expect }) => {
      const text = JSON.stringify(exportReport);
      const padded = (bytes: number) => `${text}${' '.repeat(bytes - text.length)}`;
      const args = ['check', full, '--request', '-', '--now', '2025-03-03T10:00:00Z'];
      const within = await runCli(args, { input: padded(1024), env: { MAX_BODY_BYTES: '1024' } });
      expect(within.code).toBe(0);
      expect(within.stdout).toContain('decision: permit');
      const over = await runCli(args, { input: padded(1025), env: { MAX_BODY_BYTES: '1024' } });
      expect(over.code).toBe(1);
      expect(over.stderr).toContain('(stdin) $: cannot read the request: larger than 1024 bytes');
      expect(over.stdout).toBe('');
    });

    it('names the field at fault in an action, written as a name or as an object, rather than the action as a whole', async ({ expect }) => {
      const refused = async (action: unknown) => (await runCli(['check', full, '--request', '-'], { input: JSON.stringify({ ...exportReport, action }) })).stderr;
      expect(await refused({ name: 5 })).toContain('(stdin) $.action.name: Invalid input: expected string, received number\n');
      expect(await refused({ name: 'export', extra: 1 })).toContain('(stdin) $.action: Unrecognized key: "extra"; an action\'s attributes go in action.properties\n');
      expect(await refused('')).toContain('(stdin) $.action: Too small: expected string to have >=1 characters\n');
      const validate = await runCli(['validate', await fixtureDir({ 'reports.json': reportsPolicy, 'tests/reports.json': { cases: [{ name: 'x', request: { ...exportReport, action: { name: 5 } }, expect: { decision: 'deny' } }] } })]);
      expect(validate.code).toBe(1);
      expect(validate.stderr).toContain('tests/reports.json $.cases[0].request.action.name: Invalid input: expected string, received number\n');
    });

    it('says where the attributes of a subject or a resource go, given beside its id', async ({ expect }) => {
      const refused = async (request: unknown) => (await runCli(['check', full, '--request', '-'], { input: JSON.stringify(request) })).stderr;
      const { subject, resource } = exportReport as { subject: Record<string, unknown>; resource: Record<string, unknown> };
      expect(await refused({ ...exportReport, subject: { ...subject, roles: ['auditor'], scope: 'reports' } })).toContain(
        '(stdin) $.subject: Unrecognized keys: "roles", "scope"; a subject\'s claims (roles, scopes, any attribute) go in subject.properties\n',
      );
      expect(await refused({ ...exportReport, resource: { ...resource, owner: 'bob' } })).toContain('(stdin) $.resource: Unrecognized key: "owner"; a resource\'s attributes go in resource.properties\n');
    });

    it('refuses the action "*" as the HTTP edge does, since it would skip every action\'s deny rules', async ({ expect }) => {
      const run = await runCli(['check', full, '--request', '-'], { input: JSON.stringify({ ...exportReport, action: '*' }) });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('$.action');
      expect(run.stderr).toContain('"*" stands for any action in rules only');
    });
  });

  describe('fmt', () => {
    const messy = {
      'reports.json': JSON.stringify({ rules: [{ actions: ['read'], effect: 'permit', id: 'r1', condition: 'true' }], resource: 'report', id: 'reports' }),
      'tests/reports.json': JSON.stringify({ cases: [{ expect: { decision: 'permit' }, request: { resource: { type: 'report' }, action: 'read', subject: { id: 'a' } }, name: 'reads' }] }, null, 4),
    };

    it('finds the shipped policies canonical', async ({ expect }) => {
      const run = await runCli(['fmt', defaultPolicyDir, '--check']);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('0 of 6 files need formatting');
    });

    it('--check lists files not in canonical form and writes nothing, exit 1', async ({ expect }) => {
      const dir = await fixtureDir(messy);
      const run = await runCli(['fmt', dir, '--check']);
      expect(run.code).toBe(1);
      expect(run.stdout).toContain('unformatted reports.json');
      expect(run.stdout).toContain('unformatted tests/reports.json');
      expect(run.stdout).toContain(`2 of 2 files need formatting (run: pdp fmt ${dir})`);
      expect(await readFile(join(dir, 'reports.json'), 'utf8')).toBe(messy['reports.json']);
      const json = JSON.parse((await runCli(['fmt', dir, '--check', '--json'])).stdout) as unknown;
      expect(json).toEqual({ ok: false, check: true, files: [{ file: 'reports.json', canonical: false }, { file: 'tests/reports.json', canonical: false }] });
    });

    it.for([
      ['a space', 'my policies'],
      ['a quote', "it's"],
      ['characters a shell reads', '$HOME;*'],
      ['a leading dash, as an option would', '-p'],
    ] as const)('--check hints a command that, pasted into a shell, formats a directory whose name holds %s', async ([, name], { expect }) => {
      const dir = join(await fixtureDir({}), name);
      await writeFiles(dir, messy);
      // Read from the directory's parent, as a user runs it, so the name alone is the operand.
      const run = await runCli(['fmt', '--check', '--', name], { cwd: join(dir, '..') });
      expect(run.code).toBe(1);
      const hint = /\(run: pdp (fmt .*)\)$/.exec(run.stdout.trimEnd())?.[1] ?? '';
      const words = await new Promise<string>((done, fail) =>
        execFile('sh', ['-c', `printf '%s\\0' ${hint}`], (error, stdout) => (error === null ? done(stdout) : fail(error))),
      );
      const args = words.split('\0').slice(0, -1);
      expect(args.at(-1)).toBe(name);
      expect(await runCli(args, { cwd: join(dir, '..') })).toMatchObject({ code: 0 });
    });

    it('rewrites files with keys in schema order and one layout, keeping their meaning', async ({ expect }) => {
      const dir = await fixtureDir(messy);
      const run = await runCli(['fmt', dir]);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('2 files checked, 2 reformatted');
      expect(await readFile(join(dir, 'reports.json'), 'utf8')).toBe(
        '{\n  "id": "reports",\n  "resource": "report",\n  "rules": [\n    {\n      "id": "r1",\n      "effect": "permit",\n      "actions": ["read"],\n      "condition": "true"\n    }\n  ]\n}\n',
      );
      const test = await readFile(join(dir, 'tests/reports.json'), 'utf8');
      expect(JSON.parse(test)).toEqual(JSON.parse(messy['tests/reports.json']));
      expect(test).toContain('"name": "reads",\n      "request": {\n        "subject": { "id": "a" },\n        "action": "read",\n        "resource": { "type": "report" }\n      },');
      expect((await runCli(['fmt', dir, '--check'])).code).toBe(0);
      expect((await runCli(['validate', dir])).code).toBe(0);
    });

    it('leaves a file already in canonical form untouched, and counts only the files it rewrote', async ({ expect }) => {
      const dir = await fixtureDir({ 'reports.json': messy['reports.json'] });
      expect((await runCli(['fmt', dir])).code).toBe(0);
      const canonical = await stat(join(dir, 'reports.json'));
      await writeFiles(dir, { 'tests/reports.json': messy['tests/reports.json'] });
      const run = await runCli(['fmt', dir]);
      expect(run.code).toBe(0);
      expect(run.stdout).toBe('formatted tests/reports.json\n2 files checked, 1 reformatted\n');
      // Replaced, it would be another file (a watching server reloads it), however alike.
      expect((await stat(join(dir, 'reports.json'))).ino).toBe(canonical.ino);
    });

    it('writes an array of plain values on one line only when it fits in 100 columns, the comma after it included', async ({ expect }) => {
      // `      "actions": ["…"]` is 100 columns with a 79-character action; `      "roles": ["…"]` with an 81-character role.
      const rule = { id: 'r1', effect: 'permit', actions: ['a'.repeat(79)], roles: ['r'.repeat(81)] };
      const dir = await fixtureDir({ 'reports.json': JSON.stringify({ id: 'reports', resource: 'report', rules: [rule] }) });
      expect((await runCli(['fmt', dir])).code).toBe(0);
      const lines = (await readFile(join(dir, 'reports.json'), 'utf8')).split('\n');
      expect(lines).toContain('      "actions": [');
      expect(lines).toContain(`      "roles": ["${'r'.repeat(81)}"]`);
      expect(Math.max(...lines.map((line) => line.length))).toBe(100);
    });

    it('writes -0 as -0, which conditions tell from 0, so the fixtures still pass', async ({ expect }) => {
      // 1.0 / x is -Infinity for -0: the first case denies, the second permits.
      const rule = { id: 'r1', effect: 'permit', actions: ['read'], condition: 'type(context.x) == double && 1.0 / context.x > 0.0' };
      const request = (x: string) => `{"subject":{"id":"a"},"action":"read","resource":{"type":"report"},"context":{"x":${x}}}`;
      const dir = await fixtureDir({
        'reports.json': JSON.stringify({ id: 'reports', resource: 'report', rules: [rule] }),
        'tests/reports.json': `{"cases":[{"name":"negative zero","request":${request('-0')},"expect":{"decision":"deny"}},{"name":"zero","request":${request('0')},"expect":{"decision":"permit"}}]}`,
      });
      expect((await runCli(['test', dir])).code).toBe(0);
      expect((await runCli(['fmt', dir])).code).toBe(0);
      expect(await readFile(join(dir, 'tests/reports.json'), 'utf8')).toContain('"context": { "x": -0 }');
      expect((await runCli(['test', dir])).code).toBe(0);
    });

    it('exits 1 naming a file that is not valid JSON', async ({ expect }) => {
      const run = await runCli(['fmt', broken, '--check']);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('other.json $: not valid JSON');
    });

    it('keeps every key of the free-form maps, whatever its name', async ({ expect }) => {
      // Assigned plainly, `toString` would read as present and `__proto__` become a prototype, dropping both.
      const rule = '{"id":"r1","effect":"permit","actions":["read"],"advice":{"toString":1,"__proto__":{"condition":"false"}}}';
      const dir = await fixtureDir({ 'reports.json': `{"id":"reports","resource":"report","rules":[${rule}]}` });
      expect((await runCli(['fmt', dir])).code).toBe(0);
      const formatted = await readFile(join(dir, 'reports.json'), 'utf8');
      expect(formatted).toContain('"toString": 1');
      expect(formatted).toContain('"__proto__": { "condition": "false" }');
      expect((await runCli(['validate', dir])).code).toBe(0);
    });

    it('leaves alone, exit 1, each file the loader would refuse, naming it and why, and formats the others', async ({ expect }) => {
      const refused = {
        'typo.json': '{"id":"typo","resource":"report","rules":[{"id":"r1","effect":"permit","actions":["read"],"condtion":"false"}]}',
        'cel.json': '{"id":"cel","resource":"report","rules":[{"id":"r1","effect":"permit","actions":["read"],"condition":"subject.id =="}]}',
        'ids.json': '{"id":"ids","resource":"report","rules":[{"id":"r1","effect":"permit","actions":["read"]},{"id":"r1","effect":"deny","actions":["read"]}]}',
        'tests/bad.json': '{"cases":[{"name":"x","request":{"subject":{"id":"a"},"action":"read","resource":{"type":"report"}},"expect":{"decision":"maybe"}}]}',
      };
      const dir = await fixtureDir({ ...refused, 'reports.json': messy['reports.json'] });
      for (const args of [['fmt', dir], ['fmt', dir, '--check']]) {
        const run = await runCli(args);
        expect(run.code).toBe(1);
        expect(run.stderr).toContain('typo.json $.rules[0] (rule r1): Unrecognized key: "condtion"');
        expect(run.stderr).toMatch(/cel\.json \$\.rules\[0\]\.condition \(rule r1\): syntax: /);
        expect(run.stderr).toContain('ids.json $.rules[1].id (rule r1): duplicate rule id "r1"');
        expect(run.stderr).toContain('tests/bad.json $.cases[0].expect.decision: ');
        expect(run.stdout).not.toMatch(/(formatted|unformatted) (typo|cel|ids|tests\/bad)\.json/);
      }
      for (const [name, text] of Object.entries(refused)) expect(await readFile(join(dir, name), 'utf8')).toBe(text);
      expect(await readFile(join(dir, 'reports.json'), 'utf8')).toMatch(/^{\n {2}"id": "reports",/);
      const json = JSON.parse((await runCli(['fmt', dir, '--json'])).stdout) as { ok: boolean; files: { file: string; error?: string }[] };
      expect(json.ok).toBe(false);
      expect(json.files).toContainEqual({ file: 'typo.json', canonical: false, error: '$.rules[0] (rule r1): Unrecognized key: "condtion" (did you mean "condition"?): a rule takes id, description, effect, actions, roles, scopes, condition and advice' });
    });

    it('prints each problem as validate does: the file, its JSON path ($ at the root) and rule, one line each', async ({ expect }) => {
      const dir = await fixtureDir({
        'reports.json': reportsPolicy,
        'typo.json': '{"id":"typo","resource":"report","rules":[{"id":"r1","effect":"permit","actions":["read"],"condtion":"true","roles":[]}]}',
        'broken.json': '{"id":"broken",',
      });
      const errors = (stderr: string) => stderr.split('\n').filter((line) => line.startsWith('error ')).sort();
      const validated = errors((await runCli(['validate', dir])).stderr);
      expect(validated).toEqual([
        expect.stringMatching(/^error broken\.json \$: not valid JSON at line 1/),
        'error typo.json $.rules[0] (rule r1): Unrecognized key: "condtion" (did you mean "condition"?): a rule takes id, description, effect, actions, roles, scopes, condition and advice',
        expect.stringMatching(/^error typo\.json \$\.rules\[0\]\.roles \(rule r1\): /),
      ]);
      for (const args of [['fmt', dir], ['fmt', dir, '--check']]) expect(errors((await runCli(args)).stderr), args.join(' ')).toEqual(validated);
    });

    it('reports a file it cannot write, goes on with the others, exit 1, without a stack trace', async ({ expect, skip }) => {
      const dir = await fixtureDir({ 'a.json': messy['reports.json'], 'b.json': messy['reports.json'].replace('"reports"', '"other"') });
      const locked = join(dir, 'a.json');
      // Root writes through file modes; the immutable attribute stops root too, where the file system has it.
      const root = process.getuid?.() === 0;
      if (root) {
        if (!(await commandSucceeds('chattr', ['+i', locked]))) skip('chattr +i does not work here');
      } else {
        await chmod(locked, 0o444);
      }
      try {
        const run = await runCli(['fmt', dir]);
        expect(run.code).toBe(1);
        expect(run.stderr).toMatch(/^error a\.json \$: cannot write: E(PERM|ACCES)/m);
        expect(run.stderr).not.toMatch(/\n\s+at /);
        expect(run.stdout).toContain('formatted b.json');
        expect(await readFile(locked, 'utf8')).toBe(messy['reports.json']);
        expect(await readFile(join(dir, 'b.json'), 'utf8')).toMatch(/^{\n {2}"id": "other",/);
      } finally {
        if (root) await commandSucceeds('chattr', ['-i', locked]);
      }
    });

    it('names why a file could not be replaced when the file beside it cannot be removed either', async ({ expect, skip }) => {
      // In an append-only folder a file is made, but neither renamed over another nor removed.
      const dir = await fixtureDir({ 'a.json': messy['reports.json'] });
      if (process.getuid?.() !== 0 || !(await commandSucceeds('chattr', ['+a', dir]))) skip('chattr +a does not work here');
      try {
        const run = await runCli(['fmt', dir]);
        expect(run.code).toBe(1);
        expect(run.stderr).toMatch(/^error a\.json \$: cannot write: EPERM: operation not permitted, rename /m);
        expect(await readFile(join(dir, 'a.json'), 'utf8')).toBe(messy['reports.json']);
      } finally {
        await commandSucceeds('chattr', ['-a', dir]);
      }
    });

    it('leaves alone, exit 1, a file holding a number beyond a double, which it would write as null', async ({ expect }) => {
      const text = '{"cases":[{"name":"big","request":{"subject":{"id":"a"},"action":"read","resource":{"type":"report","properties":{"amount":1e400}}},"expect":{"decision":"deny"}}]}';
      const dir = await fixtureDir({ 'reports.json': reportsPolicy, 'tests/reports.json': text });
      const run = await runCli(['fmt', dir]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('tests/reports.json $.cases[0].request.resource.properties.amount: number beyond the range of a double');
      expect(await readFile(join(dir, 'tests/reports.json'), 'utf8')).toBe(text);
    });

    it('writes each file name and problem as one line whatever the name holds: no line break or terminal escape of its own', async ({ expect }) => {
      const dir = await fixtureDir({ 'reports.json': reportsPolicy, 'tests/x\n3 files checked, 0 reformatted\u001b[2K.json': messy['tests/reports.json'], 'tests/empty\u0085.json': { cases: [] } });
      for (const [args, done] of [[['fmt', dir, '--check'], 'unformatted'], [['fmt', dir], 'formatted']] as const) {
        const run = await runCli(args);
        expect(run.code).toBe(1);
        expect(run.stdout.split('\n').filter((line) => line.includes('x\\u{a}'))).toEqual([`${done} tests/x\\u{a}3 files checked, 0 reformatted\\u{1b}[2K.json`]);
        expect(run.stderr).toBe('error tests/empty\\u{85}.json $: a test file needs at least one case or group\n');
        for (const control of ['\u001b', '\u0085']) expect(run.stdout + run.stderr).not.toContain(control);
      }
    });

    it('writes the directory it was given as one line whatever its name holds, where it names it in a problem or a hint', async ({ expect }) => {
      const dir = join(await fixtureDir({}), 'p\n3 passed, 0 failed\u001b[2K');
      await writeFiles(dir, { 'reports.json': messy['reports.json'] });
      const shown = dir.replace('\n', '\\u{a}').replace('\u001b', '\\u{1b}');
      const test = await runCli(['test', dir]);
      expect(test).toMatchObject({ code: 1, stderr: `no test cases found in ${shown}/tests\n` });
      await writeFiles(dir, { 'tests/reports.json': messy['tests/reports.json'] });
      const check = await runCli(['fmt', dir, '--check']);
      expect(check.code).toBe(1);
      expect(check.stdout.split('\n').at(-2)).toBe(`2 of 2 files need formatting (run: pdp fmt '${shown}')`);
    });

    it('reports a link to nothing as unreadable, and skips hidden files such as editor locks', async ({ expect }) => {
      const dir = await fixtureDir({ 'reports.json': reportsPolicy });
      await symlink('/nonexistent/target.json', join(dir, 'dangling.json'));
      await symlink('user@host.1234', join(dir, '.#reports.json'));
      const run = await runCli(['fmt', dir, '--check']);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('dangling.json $: cannot read: ENOENT');
      expect(run.stderr).not.toContain('.#reports.json');
      expect(run.stderr).not.toMatch(/\n\s+at /);
      const validate = await runCli(['validate', dir]);
      expect(validate.code).toBe(1);
      expect(validate.stderr + validate.stdout).toContain('dangling.json');
      expect(validate.stderr + validate.stdout).not.toContain('.#reports.json');
    });
  });

  describe('test: advice', () => {
    it('compares expected advice as JSON values, whatever order its keys are written in', async ({ expect }) => {
      const policy = { id: 'reports', resource: 'report', rules: [{ id: 'r1', effect: 'permit', actions: ['read'], advice: { step_up: 'mfa', level: 2 } }] };
      const request = { subject: { id: 'a' }, action: 'read', resource: { type: 'report' } };
      const dir = await fixtureDir({ 'reports.json': policy, 'tests/reports.json': { cases: [{ name: 'advised', request, expect: { decision: 'permit', advice: [{ level: 2, step_up: 'mfa' }] } }] } });
      const run = await runCli(['test', dir]);
      expect(run.stdout + run.stderr).toContain('1 passed');
      expect(run.code).toBe(0);
    });
  });

  describe('validate', () => {
    it('names the member an unknown key most likely misspells, or else the members the object takes', async ({ expect }) => {
      const dir = await fixtureDir({
        'reports.json': { ...reportsPolicy, rules: [{ id: 'r1', effect: 'permit', actions: ['read'], role: ['analyst'], condtion: 'true' }], descripton: 'x' },
        'data/users.json': { entities: [{ type: 'user', id: 'a1', propertes: {} }], source: 'ldap' },
        'tests/reports.json': { cases: [{ name: 'x', request: readReport, expect: { decison: 'permit' } }] },
      });
      const run = await runCli(['validate', dir]);
      expect(run.code).toBe(1);
      expect(run.stderr.split('\n').filter((line) => line.startsWith('error ')).sort()).toEqual([
        'error data/users.json $.entities[0]: Unrecognized key: "propertes" (did you mean "properties"?): an entity takes type, id, aliases, properties and authoritative',
        'error data/users.json $: Unrecognized key: "source": an entity data file takes $schema, description and entities',
        'error reports.json $.rules[0] (rule r1): Unrecognized keys: "role" (did you mean "roles"?), "condtion" (did you mean "condition"?): a rule takes id, description, effect, actions, roles, scopes, condition and advice',
        'error reports.json $: Unrecognized key: "descripton" (did you mean "description"?): a policy takes $schema, id, resource, description and rules',
        'error tests/reports.json $.cases[0].expect.decision: missing: required, one of "permit" or "deny"',
        'error tests/reports.json $.cases[0].expect: Unrecognized key: "decison" (did you mean "decision"?): an expectation takes decision, rules, reasons and advice',
      ]);
    });

    it('says JSON has no comments where a file holds one', async ({ expect }) => {
      const dir = await fixtureDir({
        'reports.json': '{\n  // who reads reports\n  "id": "reports", "resource": "report", "rules": []\n}\n',
        'more.json': '{"id": "more", "resource": "report", "rules": [{"id": "r", "effect": "permit" /* for now */, "actions": ["read"]}]}',
        'other.json': '{"id": "other", "resource": "report", "rules": [ /* none yet */ ]}',
      });
      const run = await runCli(['validate', dir]);
      expect(run.code).toBe(1);
      expect(run.stderr.split('\n').filter((line) => line.startsWith('error ')).sort()).toEqual([
        'error more.json $: not valid JSON at line 1, column 79: "/" where "," or "}" should follow a member: JSON has no comments',
        'error other.json $: not valid JSON at line 1, column 50: "/" where a value should be: JSON has no comments',
        'error reports.json $: not valid JSON at line 2, column 3: "/" where a key in double quotes should be: JSON has no comments',
      ]);
    });

    it('says a required member is missing, rather than of another type or value', async ({ expect }) => {
      const dir = await fixtureDir({
        'reports.json': { ...reportsPolicy, rules: [{ id: 'r1', roles: ['analyst'] }] },
        'data/users.json': { entities: [{ type: 'user' }] },
        'tests/reports.json': { cases: [{ name: 'x', request: readReport }, { name: 'y', request: { subject: analyst, resource: readReport.resource }, expect: { decision: 'deny' } }] },
      });
      const run = await runCli(['validate', dir]);
      expect(run.code).toBe(1);
      expect(run.stderr.split('\n').filter((line) => line.startsWith('error ')).sort()).toEqual([
        'error data/users.json $.entities[0].id: missing: required, a string',
        'error reports.json $.rules[0].actions (rule r1): missing: required, a list',
        'error reports.json $.rules[0].effect (rule r1): missing: required, one of "permit" or "deny"',
        'error tests/reports.json $.cases[0].expect: missing: required, an object',
        'error tests/reports.json $.cases[1].request.action: missing: required, a string or an object',
      ]);
    });

    it('refuses nesting beyond 64 levels with the file and path, without a stack trace', async ({ expect }) => {
      const deep = `${'['.repeat(5_000)}${']'.repeat(5_000)}`;
      const dir = await fixtureDir({ 'reports.json': `{"id":"reports","resource":"report","rules":[{"id":"r1","effect":"permit","actions":["read"],"advice":{"a":${deep}}}]}` });
      const run = await runCli(['validate', dir]);
      expect(run.code).toBe(1);
      expect(run.stderr + run.stdout).toMatch(/reports\.json.*\$\.rules\[0\]\.advice\.a(\[0\])+.*nested deeper than 64 levels/);
      expect(run.stderr).not.toContain('Maximum call stack');
    });
  });

  describe('fixtures that cannot fail, or that the server would refuse', () => {
    const reads = (action: unknown, type = 'report') => ({ subject: { id: 'a1' }, action, resource: { type } });

    it('reports, exit 1, a case the server would refuse and one asking for an action no rule names, with file and path', async ({ expect }) => {
      const dir = await fixtureDir({
        'reports.json': reportsPolicy,
        'tests/limits.json': { cases: [{ name: 'long id', request: { ...readReport, subject: { id: 'i'.repeat(1025) } }, expect: { decision: 'deny' } }] },
        'tests/typo.json': { cases: [
          { name: 'misspelt', request: reads({ name: 'raed' }), expect: { decision: 'deny' } },
          { name: 'unnamed on purpose', request: reads('print'), expect: { decision: 'deny', reasons: ['no_applicable_rule'] } },
        ] },
      });
      const run = await runCli(['validate', dir]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('tests/limits.json $.cases[0].request.subject.id: Too big: expected string to have <=1024 characters');
      expect(run.stderr).toContain('tests/typo.json $.cases[0].request.action.name: no rule for resource type "report" names the action "raed"');
      expect(run.stderr).not.toContain('$.cases[1]');
      expect(run.stderr).toContain('invalid: 2 problem(s)');
    });

    it('reports, exit 1, a case or group named as one before it in the same list, naming the first', async ({ expect }) => {
      const deny = (name: string) => ({ name, request: reads('print'), expect: { decision: 'deny', reasons: ['no_applicable_rule'] } });
      const dir = await fixtureDir({
        'reports.json': reportsPolicy,
        'tests/reports.json': {
          cases: [deny('one'), deny('two'), deny('one')],
          groups: [
            { name: 'g', cases: [deny('one'), deny('two'), deny('two')] },
            { name: 'g', cases: [deny('three')] },
          ],
        },
        'tests/other.json': { cases: [deny('one')] },
      });
      const run = await runCli(['validate', dir]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('tests/reports.json $.cases[2].name: duplicate case name "one" (also at $.cases[0])');
      expect(run.stderr).toContain('tests/reports.json $.groups[0].cases[2].name: duplicate case name "g › two" (also at $.groups[0].cases[1])');
      expect(run.stderr).toContain('tests/reports.json $.groups[1].name: duplicate group name "g" (also at $.groups[0])');
      expect(run.stderr).toContain('invalid: 3 problem(s)');
    });

    it('reports, exit 1, a case named as a case of a group is reported (`group › name`), so a JUnit report cannot tell them apart', async ({ expect }) => {
      const deny = (name: string) => ({ name, request: reads('print'), expect: { decision: 'deny', reasons: ['no_applicable_rule'] } });
      const dir = await fixtureDir({
        'reports.json': reportsPolicy,
        'tests/reports.json': {
          cases: [deny('g › one')],
          groups: [
            { name: 'g', cases: [deny('one')] },
            { name: 'g › two', cases: [deny('three')] },
            { name: 'g', cases: [deny('two › three')] },
          ],
        },
      });
      for (const command of ['validate', 'test']) {
        const run = await runCli([command, dir]);
        expect(run.code).toBe(1);
        expect(run.stderr).toContain('tests/reports.json $.groups[0].cases[0].name: duplicate case name "g › one" (also at $.cases[0])');
        expect(run.stderr).toContain('tests/reports.json $.groups[2].cases[0].name: duplicate case name "g › two › three" (also at $.groups[1].cases[0])');
        expect(run.stderr).toContain('tests/reports.json $.groups[2].name: duplicate group name "g" (also at $.groups[0])');
        expect(run.stderr).toContain('invalid: 3 problem(s)');
      }
    });

    it('fails a case whose resource type has no policy unless it expects unknown_resource_type', async ({ expect }) => {
      const dir = await fixtureDir({
        'reports.json': reportsPolicy,
        'tests/reports.json': { cases: [
          { name: 'misspelt type', request: reads('read', 'reports'), expect: { decision: 'deny' } },
          { name: 'unknown on purpose', request: reads('read', 'payment'), expect: { decision: 'deny', reasons: ['unknown_resource_type'] } },
          { name: 'unnamed on purpose', request: reads('print'), expect: { decision: 'deny', reasons: ['no_applicable_rule'] } },
        ] },
      });
      const run = await runCli(['test', dir, '--json']);
      expect(run.code).toBe(1);
      const report = JSON.parse(run.stdout) as { cases: { name: string; passed: boolean; failure: string }[] };
      expect(report.cases.map((c) => [c.name, c.passed])).toEqual([['misspelt type', false], ['unknown on purpose', true], ['unnamed on purpose', true]]);
      expect(report.cases[0]?.failure).toContain('unexpected unknown resource type [{"code":"unknown_resource_type","detail":"no policy for resource type \\"reports\\""}]');
    });
  });

  describe('a tests/ that cannot be read, or no policies', () => {
    it('validate reports a tests/ that is a file rather than count no tests', async ({ expect }) => {
      const dir = await fixtureDir({ 'reports.json': reportsPolicy, tests: 'not a directory' });
      const run = await runCli(['validate', dir]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('tests $: cannot read the test directory: ENOTDIR');
    });

    it('fmt reports a tests/ that is a link to nothing rather than format no tests', async ({ expect }) => {
      const dir = await fixtureDir({ 'reports.json': reportsPolicy });
      await symlink(join(dir, 'gone'), join(dir, 'tests'));
      const run = await runCli(['fmt', dir, '--check']);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('tests $: cannot read the test directory: a link to nothing');
    });

    it('fmt refuses, as validate does, a directory without policies', async ({ expect }) => {
      const dir = await fixtureDir({ 'notes.txt': 'no policies here' });
      const run = await runCli(['fmt', dir, '--check', '--json']);
      expect(run.code).toBe(1);
      expect(JSON.parse(run.stdout)).toEqual({ ok: false, issues: [{ file: dir, path: '$', message: 'no policy files (*.json) found' }] });
    });
  });

  describe('settings and terminals', () => {
    it('--json reports settings the server would refuse as JSON on stdout', async ({ expect }) => {
      const run = await runCliWithEnv(['test', defaultPolicyDir, '--json'], { LOG_LEVEL: 'verbose' });
      expect(run.code).toBe(1);
      expect(JSON.parse(run.stdout)).toEqual({ ok: false, issues: [{ file: '(settings)', path: '$', message: expect.stringMatching(/^invalid configuration:\n {2}LOG_LEVEL: /) }] });
    });

    // script(1) gives the command a terminal; the other stream goes to a file.
    it.for([
      { redirected: 'stderr', to: '2>', onTerminal: '\u001b[33munformatted\u001b[39m reports.json', inFile: 'error broken.json $: not valid JSON' },
      { redirected: 'stdout', to: '>', onTerminal: '\u001b[31merror\u001b[39m broken.json $: not valid JSON', inFile: 'unformatted reports.json' },
    ])('colours each stream only when it is a terminal: $redirected to a file', async ({ to, onTerminal, inFile }, { expect, skip }) => {
      const dir = await fixtureDir({ 'reports.json': JSON.stringify(reportsPolicy), 'broken.json': '{' });
      const file = join(dir, 'redirected.txt');
      const cli = resolve(import.meta.dirname, '../dist/cli/main.js');
      const command = `'${process.execPath}' '${cli}' fmt '${dir}' --check ${to} '${file}'`;
      const terminal = await new Promise<string | undefined>((done) => {
        execFile('script', ['-qec', command, '/dev/null'], { env: { PATH: process.env['PATH'], TERM: 'xterm' } }, (error, stdout) => done(error === null || typeof error.code === 'number' ? stdout : undefined));
      });
      if (terminal === undefined) skip('script(1) is not available here');
      expect(terminal).toContain(onTerminal);
      const redirected = await readFile(file, 'utf8');
      expect(redirected).toContain(inFile);
      expect(redirected).not.toContain('\u001b[');
    });
  });

  describe('schema', () => {
    it('prints the schemas committed beside the policies and their tests', async ({ expect }) => {
      const policy = await runCli(['schema']);
      expect(policy.code).toBe(0);
      expect(JSON.parse(policy.stdout)).toEqual(JSON.parse(await readFile(join(defaultPolicyDir, 'policy.schema.json'), 'utf8')));
      const fixture = await runCli(['schema', 'fixture']);
      expect(JSON.parse(fixture.stdout)).toEqual(JSON.parse(await readFile(join(defaultPolicyDir, 'tests/fixture.schema.json'), 'utf8')));
    });

    it('takes its argument after `--`, which ends the options as for every command', async ({ expect }) => {
      const run = await runCli(['schema', '--', 'fixture']);
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toEqual(JSON.parse(await readFile(join(defaultPolicyDir, 'tests/fixture.schema.json'), 'utf8')));
      expect((await runCli(['schema', '--', '--json'])).code).toBe(2);
    });
  });
});
