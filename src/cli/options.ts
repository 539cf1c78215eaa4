import { parseArgs } from 'node:util';

/** The options a command takes, by name, as parseArgs reads them. */
export type FlagSpec = Readonly<Record<string, { readonly type: 'boolean' | 'string' }>>;

/**
 * The options of each command (beside `--json`, which the commands taking a directory add): the
 * command reads its arguments by them, and `pdp` finds a request for help among them, so a
 * value that reads as one (`--request -h`) is the option's, as the command reads it.
 */
export const commandOptions = {
  validate: {},
  test: { coverage: { type: 'boolean' }, 'min-coverage': { type: 'string' }, junit: { type: 'string' } },
  check: { request: { type: 'string' }, now: { type: 'string' } },
  fmt: { check: { type: 'boolean' } },
  schema: {},
  keys: {},
  token: { key: { type: 'string' }, iss: { type: 'string' }, aud: { type: 'string' }, claims: { type: 'string' }, ttl: { type: 'string' } },
} as const satisfies Readonly<Record<string, FlagSpec>>;

export type CommandName = keyof typeof commandOptions;

/**
 * Whether `args` ask for help: an argument `-h` or `--help` read as an option of its own, not
 * after `--` (`pdp validate -- -h` names a directory) nor as the value of an option of `flags`
 * that takes one (`pdp check --request -h`, which the command then refuses as ambiguous). Read
 * leniently, so help is printed whatever else is wrong with the line.
 */
export function asksForHelp(args: readonly string[], flags: FlagSpec): boolean {
  const { tokens } = parseArgs({ args: [...args], options: flags, allowPositionals: true, strict: false, tokens: true });
  return tokens.some((token) => token.kind === 'option' && (args[token.index] === '-h' || args[token.index] === '--help'));
}
