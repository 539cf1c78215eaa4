import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, runNode, type RunResult } from './helpers/process.js';
import { tempDir } from './helpers/tmp.js';

/** vitest's JSON report of one file whose tests ended as `statuses` say. */
function vitestReport(statuses: readonly ('passed' | 'failed')[]): string {
  const failed = statuses.filter((status) => status === 'failed').length;
  return JSON.stringify({
    numPassedTests: statuses.length - failed,
    numFailedTests: failed,
    success: failed === 0,
    testResults: [{
      name: resolve(repoRoot, 'test/some.test.ts'),
      status: failed === 0 ? 'passed' : 'failed',
      message: '',
      assertionResults: statuses.map((status, i) => ({ fullName: `test ${i}`, status, failureMessages: status === 'failed' ? ['expected 1 to be 2'] : [] })),
    }],
  });
}

/** Runs .ci/totals.mjs over a results folder holding `files` (name → text). */
async function totals(files: Readonly<Record<string, string>>): Promise<RunResult & { lines: string[] }> {
  const dir = await tempDir();
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  const run = await runNode(resolve(repoRoot, '.ci/totals.mjs'), [dir]);
  return { ...run, lines: run.stdout.trimEnd().split('\n') };
}

const noFailedStep = JSON.stringify({ passed: 0, failed: 0 });

describe('.ci/totals.mjs, the last line of .ci/run', () => {
  it('counts the checks of every report', async () => {
    const run = await totals({ 'vitest.json': vitestReport(['passed', 'passed', 'failed']), 'conformance.totals.json': JSON.stringify({ passed: 5, failed: 0 }), 'steps.totals.json': noFailedStep });
    expect(run.lines.at(-1)).toBe('7 passed, 1 failed');
    expect(run.lines).toContain('FAILED test/some.test.ts > test 2: expected 1 to be 2');
    expect(run.code).toBe(1);
  });

  // vitest exits 1 for an error thrown outside any test (a timer firing after its test ended),
  // and still reports every test passed.
  it('counts once a step that exited non-zero while its report shows no failure', async () => {
    const run = await totals({ 'vitest.json': vitestReport(['passed', 'passed']), 'vitest.json.failed': 'npm test\n', 'steps.totals.json': noFailedStep });
    expect(run.lines.at(-1)).toBe('2 passed, 1 failed');
    expect(run.lines).toContain('FAILED npm test: exited non-zero, its report (vitest.json) showing no failure');
    expect(run.code).toBe(1);
  });

  it('counts once a step that exited non-zero without a report', async () => {
    const run = await totals({ 'vitest.json': vitestReport(['passed']), 'conformance.totals.json.failed': 'npm run conformance\n', 'steps.totals.json': noFailedStep });
    expect(run.lines.at(-1)).toBe('1 passed, 1 failed');
    expect(run.lines).toContain('FAILED npm run conformance: exited non-zero without a report (conformance.totals.json)');
    expect(run.code).toBe(1);
  });

  it('does not count again a step whose report shows its failures', async () => {
    const run = await totals({ 'vitest.json': vitestReport(['passed', 'failed']), 'vitest.json.failed': 'npm test\n', 'steps.totals.json': noFailedStep });
    expect(run.lines.at(-1)).toBe('1 passed, 1 failed');
    expect(run.code).toBe(1);
  });

  // A step killed while writing its report leaves part of it.
  it('counts once a report it cannot read, and still ends with the totals', async () => {
    const run = await totals({ 'vitest.json': vitestReport(['passed']).slice(0, 40), 'vitest.json.failed': 'npm test\n', 'conformance.totals.json': JSON.stringify({ passed: 5, failed: 0 }), 'steps.totals.json': noFailedStep });
    expect(run.lines.at(-1)).toBe('5 passed, 1 failed');
    expect(run.lines).toContainEqual(expect.stringMatching(/^FAILED vitest\.json: cannot read the report: .*JSON/));
    expect(run.code).toBe(1);
  });

  it('exits 0 when every check passed', async () => {
    const run = await totals({ 'vitest.json': vitestReport(['passed']), 'steps.totals.json': noFailedStep });
    expect(run).toMatchObject({ code: 0, lines: ['1 passed, 0 failed'] });
  });
});
