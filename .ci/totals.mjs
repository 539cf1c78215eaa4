// Prints the run's totals as the last line, in the plain form `N passed, N failed`.
// Reads vitest's JSON report and any `*.totals.json` ({passed, failed}) other steps wrote
// (.ci/run writes one for the steps that failed), and for each step of .ci/run that reports its
// own checks and exited non-zero, `REPORT.failed` naming the step. Above it, one line per failed
// test, with the first line of its failure: the end of a long run's output says which failed and why.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const dir = process.argv[2];
const names = readdirSync(dir);
let passed = 0;
let failed = 0;
const failures = [];
/** Failures each report counted, by its file name. */
const reportFailures = new Map();
for (const name of names) {
  if (name !== 'vitest.json' && !name.endsWith('.totals.json')) continue;
  let data;
  try {
    data = JSON.parse(readFileSync(join(dir, name), 'utf8'));
  } catch (error) {
    // Part of a report (its step killed while writing it) counts once, and the totals still print.
    failures.push(`FAILED ${name}: cannot read the report: ${error.message}`);
    failed += 1;
    reportFailures.set(name, 1);
    continue;
  }
  const failedBefore = failed;
  if (name === 'vitest.json') {
    passed += data.numPassedTests;
    failed += data.numFailedTests;
    for (const file of data.testResults) {
      const path = relative(process.cwd(), file.name);
      for (const test of file.assertionResults) {
        if (test.status === 'failed') failures.push(`FAILED ${path} > ${test.fullName}: ${(test.failureMessages[0] ?? '').split('\n')[0]}`);
      }
      if (file.status === 'failed' && file.assertionResults.length === 0) failures.push(`FAILED ${path}: ${(file.message ?? '').split('\n')[0]}`);
    }
    // A test file that fails to load runs no test; count it so it cannot pass unseen.
    const unloaded = data.testResults.filter((file) => file.status === 'failed' && file.assertionResults.length === 0).length;
    failed += unloaded;
    // A run that failed without a failed test (its global setup, say) counts once too.
    if (data.success === false && data.numFailedTests === 0 && unloaded === 0) failed += 1;
  } else {
    passed += data.passed;
    failed += data.failed;
  }
  reportFailures.set(name, failed - failedBefore);
}
// A step's exit status says more than its report can: vitest exits 1 for an error thrown outside
// any test (a timer firing after its test ended) and still reports every test passed. A step
// that failed counts once unless its report shows a failure.
for (const marker of names.filter((name) => name.endsWith('.failed'))) {
  const report = marker.slice(0, -'.failed'.length);
  const reported = reportFailures.get(report);
  if (reported !== undefined && reported > 0) continue;
  const step = readFileSync(join(dir, marker), 'utf8').trim();
  failures.push(`FAILED ${step}: exited non-zero${reported === undefined ? ` without a report (${report})` : `, its report (${report}) showing no failure`}`);
  failed += 1;
}
for (const line of failures) console.log(line);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
