import { join } from 'node:path';
import type { CoverageReport, CoverageTally } from '../policy/coverage.js';
import { SourceReads } from '../policy/source-reads.js';
import { caseLabel, loadPolicyDirWithTests, runPolicyTests, type CaseResult } from '../policy/testing.js';
import { claimTermsFromConfig } from '../token/from-config.js';
import { InputError, parseCommandArgs, serverConfig, UsageError, withLoadErrors, type Io } from './io.js';
import { commandOptions } from './options.js';
import { junitLoadReport, junitReport } from './junit.js';
import { printable } from '../printable.js';
import { writeReportFile } from './replace-file.js';

/** A decimal percentage only: Number() would also read `0x32` as 50 and `1e1` as 10. */
const decimal = /^\d+(?:\.\d+)?$/;

function minimumCoverage(value: string | boolean | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const min = Number(value);
  if (!decimal.test(value) || min > 100) {
    throw new UsageError(`--min-coverage takes a percentage from 0 to 100, not "${value}"`);
  }
  return min;
}

/**
 * Writes the JUnit report to `file`, whole or not at all; a report that cannot be written fails
 * the run, which a CI server would otherwise read as no tests.
 */
async function writeReport(file: string, text: string): Promise<void> {
  try {
    await writeReportFile(file, text);
  } catch (error) {
    throw new InputError(`cannot write the JUnit report to ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

const percent = (value: number): string => `${(Math.floor(value * 10) / 10).toFixed(1)}%`;
const tally = (t: CoverageTally): string => `${t.covered}/${t.total}`;

function printCases(io: Io, results: readonly CaseResult[]): void {
  let file: string | undefined;
  for (const result of results) {
    if (result.file !== file) {
      file = result.file;
      io.out(io.paint('bold', printable(file)));
    }
    const label = printable(caseLabel(result.group, result.name));
    if (result.passed) {
      io.out(`  ${io.paint('green', '✓')} ${label}`);
    } else {
      io.out(`  ${io.paint('red', '✗')} ${label}  ${io.paint('dim', result.path)}`);
      io.out(`      ${printable(result.failure)}`);
    }
  }
}

function printCoverage(io: Io, coverage: CoverageReport): void {
  io.out('');
  io.out(`coverage: ${tally(coverage.total)} rules (${percent(coverage.percent)}) · permit ${tally(coverage.permit)} · deny ${tally(coverage.deny)}`);
  for (const rule of coverage.rules) {
    if (rule.covered) continue;
    const seen = `applied ${rule.applied}×${rule.hasCondition ? `, condition false ${rule.declined}×` : ''}${rule.errored > 0 ? `, condition error ${rule.errored}×` : ''}`;
    io.out(`  ${io.paint('yellow', '○')} ${rule.policy}/${rule.rule} (${rule.effect}): never ${rule.missing.join(', never ')}  ${io.paint('dim', seen)}`);
  }
}

/**
 * `pdp test [DIR] [--coverage] [--min-coverage N] [--junit FILE] [--json]`: runs the fixtures in
 * DIR/tests, and with --junit also writes their JUnit XML report to FILE. Exit 1 when a case
 * fails, no case exists, or coverage is below N percent.
 */
export async function testCommand(args: readonly string[], io: Io): Promise<number> {
  const { dir, flags } = parseCommandArgs(args, commandOptions.test);
  const json = flags['json'] === true;
  const minCoverage = minimumCoverage(flags['min-coverage']);
  const wantCoverage = flags['coverage'] === true || minCoverage !== undefined;
  const junit = flags['junit'];
  if (junit === '') throw new UsageError('--junit takes the file to write the report to');
  const reportTo = typeof junit === 'string' ? (text: string) => writeReport(junit, text) : undefined;
  return withLoadErrors(io, json, async () => {
    const config = serverConfig(io);
    const { claims, subjectTypes } = await claimTermsFromConfig(config);
    const reads = new SourceReads();
    const set = await loadPolicyDirWithTests(dir, reads, subjectTypes);
    const { results, coverage } = await runPolicyTests(set, dir, { coverage: wantCoverage, claims, maxBodyBytes: config.MAX_BODY_BYTES, reads });
    const failed = results.filter((r) => !r.passed).length;
    const noCases = results.length === 0 ? `no test cases found in ${join(dir, 'tests')}` : undefined;
    const lowCoverage = minCoverage !== undefined && coverage !== undefined && coverage.percent < minCoverage ? `coverage ${percent(coverage.percent)} is below the minimum ${minCoverage}%` : undefined;
    // What fails the run beyond its cases, named in every output: on stderr, in --json, in the JUnit report.
    const problems = [noCases, lowCoverage].filter((problem) => problem !== undefined);
    // Written before the output, which names a report that cannot be written among its problems.
    const unwritten = await reportTo?.(junitReport(results, problems)).then(() => undefined, (error: unknown) => {
      if (error instanceof InputError) return error;
      throw error;
    });
    if (unwritten !== undefined) problems.push(unwritten.message);
    const ok = failed === 0 && problems.length === 0;
    if (json) {
      io.out(JSON.stringify({ ok, version: set.version, passed: results.length - failed, failed, cases: results, coverage, minCoverage, problems }, null, 2));
    } else {
      if (noCases === undefined) {
        printCases(io, results);
        io.out('');
        io.out(`${io.paint(failed === 0 ? 'green' : 'red', `${results.length - failed} passed, ${failed} failed`)} (policy version ${set.version})`);
        if (coverage !== undefined) printCoverage(io, coverage);
      }
      // The report's own problem, if any, is said on stderr below, once the output is printed.
      for (const problem of [noCases, lowCoverage]) if (problem !== undefined) io.err(printable(problem));
    }
    // The output printed, a report that cannot be written fails the run with its message on stderr.
    if (unwritten !== undefined) throw unwritten;
    return ok ? 0 : 1;
  }, reportTo && ((issues) => reportTo(junitLoadReport(issues))));
}
