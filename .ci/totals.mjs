// Prints the run's totals as the last line, in the plain form `N passed, N failed`.
// Reads vitest's JSON report and any `*.totals.json` ({passed, failed}) other steps wrote
// (.ci/run writes one for the steps that failed).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
let passed = 0;
let failed = 0;
for (const name of readdirSync(dir)) {
  const data = JSON.parse(readFileSync(join(dir, name), 'utf8'));
  if (name === 'vitest.json') {
    passed += data.numPassedTests;
    failed += data.numFailedTests;
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
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
