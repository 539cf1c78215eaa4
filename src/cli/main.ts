#!/usr/bin/env node
import { policyJsonSchema } from '../policy/schema.js';
import { PolicyLoadError, formatIssue } from '../policy/errors.js';
import { loadPolicyDir } from '../policy/load.js';
import { runPolicyTests } from '../policy/testing.js';

const usage = `usage: pdp <command> [dir]

commands:
  validate [dir]   load and check every policy in dir (default ./policies)
  test [dir]       run the policy test fixtures in dir/tests against the policies in dir
  schema           print the JSON Schema of a policy file
`;

type Out = (line: string) => void;

async function validate(dir: string, out: Out): Promise<number> {
  const set = await loadPolicyDir(dir);
  out(`ok: ${set.policies.length} policies, ${set.ruleCount} rules, version ${set.version}`);
  return 0;
}

async function test(dir: string, out: Out): Promise<number> {
  const set = await loadPolicyDir(dir);
  const results = await runPolicyTests(set, dir);
  const failed = results.filter((r) => !r.passed);
  for (const r of failed) out(`FAIL ${r.file} › ${r.name}: ${r.failure}`);
  out(`${results.length - failed.length} passed, ${failed.length} failed`);
  if (results.length === 0) {
    out(`no test cases found in ${dir}/tests`);
    return 1;
  }
  return failed.length === 0 ? 0 : 1;
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, dir = './policies'] = argv;
  const out: Out = (line) => process.stdout.write(`${line}\n`);
  try {
    switch (command) {
      case 'validate':
        return await validate(dir, out);
      case 'test':
        return await test(dir, out);
      case 'schema':
        out(JSON.stringify(policyJsonSchema(), null, 2));
        return 0;
      default:
        process.stderr.write(usage);
        return 2;
    }
  } catch (error) {
    if (!(error instanceof PolicyLoadError)) throw error;
    for (const issue of error.issues) process.stderr.write(`${formatIssue(issue)}\n`);
    process.stderr.write(`invalid: ${error.issues.length} problem(s)\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
