#!/usr/bin/env node
import { policyJsonSchema } from '../policy/schema.js';
import { PolicyLoadError, formatIssue } from '../policy/errors.js';
import { loadPolicyDir } from '../policy/load.js';
import { runPolicyTests } from '../policy/testing.js';
import { parseTokenArgs, signDevToken, UsageError, writeDevKeys } from './dev-token.js';

const usage = `usage: pdp <command> [dir]

commands:
  validate [dir]   load and check every policy in dir (default ./policies)
  test [dir]       run the policy test fixtures in dir/tests against the policies in dir
  schema           print the JSON Schema of a policy file

  keys DIR         make an ES256 key pair for development: DIR/jwks.json (public, for
                   JWKS_FILE) and DIR/private.jwk.json
  token --key DIR/private.jwk.json --iss ISSUER --aud AUDIENCE [--claims JSON] [--ttl SECONDS]
                   print a JWT signed with that key (ttl defaults to 3600)
`;

type Out = (line: string) => void;

/** An fs failure such as a missing key file or a key that exists already (`EEXIST`). */
function isFileError(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string' && (error as NodeJS.ErrnoException).syscall !== undefined;
}

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

async function keys(dir: string | undefined, out: Out): Promise<number> {
  if (dir === undefined) throw new UsageError('keys needs a directory');
  const written = await writeDevKeys(dir);
  out(`wrote ${written.jwks} and ${written.privateKey} (ES256, kid ${written.kid})`);
  return 0;
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  const dir = rest[0] ?? './policies';
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
      case 'keys':
        return await keys(rest[0], out);
      case 'token':
        out(await signDevToken(parseTokenArgs(rest)));
        return 0;
      default:
        process.stderr.write(usage);
        return 2;
    }
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`pdp: ${error.message}\n\n${usage}`);
      return 2;
    }
    if (isFileError(error)) {
      process.stderr.write(`pdp: ${error.message}\n`);
      return 1;
    }
    if (!(error instanceof PolicyLoadError)) throw error;
    for (const issue of error.issues) process.stderr.write(`${formatIssue(issue)}\n`);
    process.stderr.write(`invalid: ${error.issues.length} problem(s)\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
