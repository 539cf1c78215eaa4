import { join } from 'node:path';
import { SourceReads } from '../policy/source-reads.js';
import { loadFixtures, loadPolicyDirWithTests } from '../policy/testing.js';
import { parseCommandArgs, withLoadErrors, type Io } from './io.js';
import { commandOptions } from './options.js';

/** `pdp validate [DIR] [--json]`: loads and compiles every policy, and parses every test file. */
export async function validateCommand(args: readonly string[], io: Io): Promise<number> {
  const { dir, flags } = parseCommandArgs(args, commandOptions.validate);
  const json = flags['json'] === true;
  return withLoadErrors(io, json, async () => {
    const reads = new SourceReads();
    const set = await loadPolicyDirWithTests(dir, reads);
    const fixtures = await loadFixtures(join(dir, 'tests'), set, undefined, reads);
    const summary = { ok: true, version: set.version, policies: set.policies.length, rules: set.ruleCount, testFiles: fixtures.length };
    if (json) io.out(JSON.stringify(summary, null, 2));
    else io.out(`${io.paint('green', 'ok')}: ${summary.policies} policies, ${summary.rules} rules, ${summary.testFiles} test files, version ${summary.version}`);
    return 0;
  });
}
