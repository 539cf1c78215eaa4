#!/usr/bin/env node
import { InputError, processIo, UsageError, type Io } from './io.js';
import { printable } from '../printable.js';
import { asksForHelp, commandOptions, type CommandName } from './options.js';

const usage = `usage: pdp <command> [DIR] [options]        (DIR defaults to ./policies)

commands:
  validate [DIR]                    load and compile every policy in DIR, parse DIR/tests
  test [DIR] [--coverage]           run the test cases in DIR/tests against the policies
             [--min-coverage N]     ...and fail when fewer than N% of the rules are covered
             [--junit FILE]         ...and write a JUnit XML report to FILE
  check [DIR] --request FILE        decide one request offline and explain every rule
             [--now RFC3339]        (FILE "-" reads stdin)
  fmt [DIR] [--check]               rewrite policy and test files in canonical form
                                    (--check: write nothing, fail when a file is not canonical)
  schema [policy|fixture|entities]  print the JSON Schema of a policy, test or entity data file

development keys and tokens (for trying the service, never for production):
  keys DIR                          make an ES256 key pair: DIR/jwks.json (public, for
                                    JWKS_FILE) and DIR/private.jwk.json
  token --key DIR/private.jwk.json --iss ISSUER --aud AUDIENCE --claims JSON [--ttl SECONDS]
                                    print a JWT signed with that key (ttl defaults to 3600);
                                    --claims holds the subject claim (CLAIM_SUBJECT, sub), not
                                    iss, aud, exp or iat; refused when the server would deny it

options:
  --json                            machine-readable output on stdout

exit codes: 0 ok · 1 invalid settings, policies, requests or keys, failed tests, low coverage,
            unformatted files, or a token the server would deny · 2 usage
`;

type Command = (args: readonly string[], io: Io) => Promise<number>;

// Each command's module is loaded when it runs: one command needs neither the policy compiler
// nor jose for the others, and a CLI run in CI or a pre-commit hook starts that much sooner.
const commands: Readonly<Record<CommandName, () => Promise<Command>>> = {
  validate: async () => (await import('./validate.js')).validateCommand,
  test: async () => (await import('./test.js')).testCommand,
  check: async () => (await import('./check.js')).checkCommand,
  fmt: async () => (await import('./fmt.js')).fmtCommand,
  schema: async () => (await import('./schema.js')).schemaCommand,
  keys: async () => (await import('./dev-keys.js')).keysCommand,
  token: async () => (await import('./dev-token.js')).tokenCommand,
};

async function main(argv: readonly string[], io: Io): Promise<number> {
  const [name, ...args] = argv;
  // Own names only: `constructor` or `toString` are no commands.
  const known = name !== undefined && Object.hasOwn(commands, name) ? (name as CommandName) : undefined;
  const command = known === undefined ? undefined : commands[known];
  if (name === 'help' || name === '--help' || name === '-h' || (known !== undefined && asksForHelp(args, commandOptions[known]))) {
    process.stdout.write(usage);
    return 0;
  }
  if (command === undefined) {
    io.err(name === undefined ? 'pdp: a command is required' : `pdp: unknown command "${name}"`);
    process.stderr.write(usage);
    return 2;
  }
  try {
    return await (await command())(args, io);
  } catch (error) {
    // A name the message quotes (a file, a directory) may hold a line break or an escape sequence.
    if (error instanceof InputError) {
      io.err(`pdp ${name}: ${printable(error.message)}`);
      return 1;
    }
    if (!(error instanceof UsageError)) throw error;
    io.err(`pdp ${name}: ${printable(error.message)} (pdp help shows the usage)`);
    return 2;
  }
}

process.exitCode = await main(process.argv.slice(2), processIo());
