// Prints the run's totals as the last line, in the plain form `N passed, N failed`.
// Reads vitest's JSON report and any `*.totals.json` ({passed, failed}) other steps wrote
// (.ci/run writes one for the steps that failed). Above it, one line per failed test, with the
// first line of its failure: the end of a long run's output says which failed and why.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const dir = process.argv[2];
let passed = 0;
let failed = 0;
const failures = [];
for (const name of readdirSync(dir)) {
  const data = JSON.parse(readFileSync(join(dir, name), 'utf8'));
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
  } else if (name.endsWith('.totals.json')) {
    passed += data.passed;
    failed += data.failed;
  }
}
for (const line of failures) console.log(line);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
