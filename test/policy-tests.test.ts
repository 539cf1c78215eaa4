import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/process.js';
import { tempDir } from './helpers/tmp.js';

const policy = {
  id: 'docs',
  resource: 'doc',
  rules: [
    { id: 'read', effect: 'permit', actions: ['read'], roles: ['reader'], condition: 'resource.properties.team == subject.properties.team' },
    { id: 'locked', effect: 'deny', actions: ['read'], condition: 'context.locked == true', advice: { ask: 'owner' } },
  ],
};

const reader = { id: 'u1', properties: { roles: ['reader'], team: 'a' } };

function readCase(name: string, resource: Record<string, unknown>, context: Record<string, unknown>, expect: Record<string, unknown>) {
  return { name, request: { subject: reader, action: 'read', resource: { type: 'doc', properties: resource }, context }, expect };
}

async function policyDir(fixtures: Readonly<Record<string, unknown>>): Promise<string> {
  const dir = await tempDir({ 'docs.json': policy });
  await mkdir(join(dir, 'tests'));
  for (const [name, content] of Object.entries(fixtures)) {
    await writeFile(join(dir, 'tests', name), JSON.stringify(content));
  }
  return dir;
}

const passing = [
  readCase('same team', { team: 'a' }, { locked: false }, { decision: 'permit', rules: ['read'] }),
  readCase('other team', { team: 'b' }, { locked: false }, { decision: 'deny', codes: ['no_applicable_rule'] }),
  readCase('locked', { team: 'a' }, { locked: true }, { decision: 'deny', rules: ['locked'], advice: [{ ask: 'owner' }] }),
  readCase('no lock flag fails closed', { team: 'a' }, {}, { decision: 'deny', rules: ['locked'], codes: ['condition_error'] }),
];

describe('pdp test (process)', () => {
  it('exits 0 and counts the cases when every case passes', async () => {
    const run = await runCli(['test', await policyDir({ 'docs.json': { cases: passing } })]);
    expect(run).toEqual({ code: 0, stdout: '4 passed, 0 failed\n', stderr: '' });
  });

  it('exits 1 with one FAIL line per failing case and the totals', async () => {
    const failing = [
      readCase('wrong decision', { team: 'b' }, { locked: false }, { decision: 'permit' }),
      readCase('wrong rule', { team: 'a' }, { locked: false }, { decision: 'permit', rules: ['other'] }),
      readCase('wrong advice', { team: 'a' }, { locked: true }, { decision: 'deny', advice: [{ ask: 'admin' }] }),
      readCase('missing code', { team: 'a' }, { locked: true }, { decision: 'deny', codes: ['no_applicable_rule'] }),
      readCase('unexpected condition error', { team: 'a' }, {}, { decision: 'deny', rules: ['locked'] }),
    ];
    const run = await runCli(['test', await policyDir({ 'a.json': { cases: passing }, 'b.json': { cases: failing } })]);
    expect(run.code).toBe(1);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(/^FAIL tests\/b\.json › wrong decision: expected permit, got deny/),
      expect.stringMatching(/^FAIL tests\/b\.json › wrong rule: expected deciding rules other, got \[read\]$/),
      expect.stringMatching(/^FAIL tests\/b\.json › wrong advice: expected advice \[\{"ask":"admin"\}\], got \[\{"ask":"owner"\}\]$/),
      expect.stringMatching(/^FAIL tests\/b\.json › missing code: expected reason codes no_applicable_rule, got \[\]$/),
      expect.stringMatching(/^FAIL tests\/b\.json › unexpected condition error: unexpected condition error .*"rule":"locked"/),
      '4 passed, 5 failed',
    ]);
  });

  it('exits 1 naming the file and path of a malformed fixture', async () => {
    const run = await runCli(['test', await policyDir({ 'bad.json': { cases: [{ name: 'x', request: {}, expect: { decision: 'maybe' } }] } })]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('tests/bad.json $.cases[0].request.subject');
    expect(run.stderr).toContain('tests/bad.json $.cases[0].expect.decision');
  });

  it('exits 1 when there are no cases to run', async () => {
    const run = await runCli(['test', await policyDir({})]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('no test cases found');
  });

  it('exits 1 without running cases when the policies do not load', async () => {
    const dir = await tempDir({ 'docs.json': { ...policy, rules: [{ ...policy.rules[0], condition: 'nope(' }] } });
    const run = await runCli(['test', dir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/docs\.json \$\.rules\[0\]\.condition \(rule read\): /);
  });
});
