import { parseArgs, styleText } from 'node:util';
import { ConfigError, loadConfig, settingNames, type Config } from '../config.js';
import { formatIssue, PolicyLoadError, type PolicyIssue } from '../policy/errors.js';
import type { FlagSpec } from './options.js';
import { unreadSettings, unreadSettingText } from '../unread-settings.js';
import { printable } from '../printable.js';

type Style = 'green' | 'red' | 'yellow' | 'dim' | 'bold';

/** Where a command writes: lines to stdout and stderr, colour only on a terminal. */
export interface Io {
  out(line: string): void;
  err(line: string): void;
  /** Colours text for stdout. */
  paint(style: Style, text: string): string;
  /** Colours text for stderr, which may be a terminal when stdout is not, or the other way round. */
  paintErr(style: Style, text: string): string;
  /** The environment the server's settings are read from (`CLAIM_*`, `TOKEN_CONFIG_FILE`, `MAX_BODY_BYTES`, `TOKEN_MAX_LENGTH`). */
  readonly env: NodeJS.ProcessEnv;
}

/** The process's own streams; colour on each that is a terminal, unless NO_COLOR is set. */
export function processIo(): Io {
  const colorAllowed = (process.env['NO_COLOR'] ?? '') === '';
  const painter = (stream: NodeJS.WriteStream) => {
    const color = colorAllowed && stream.isTTY === true;
    // styleText checks process.stdout unless told which stream the text is for: stderr's text
    // would lose its colour whenever stdout is not a terminal (`pdp fmt --check > report.txt`).
    return (style: Style, text: string): string => (color ? styleText(style, text, { stream }) : text);
  };
  // A reader that stops early (`pdp check … | head`, `2>&1 | head` for stderr) is not an error:
  // what is left of the output is dropped, and the command goes on to its own exit code (exiting
  // here, before the JUnit report of a refused policy set, written after its problems, made a
  // failed run exit 0; on stderr, the unhandled error ended a passing run with exit 1 and left
  // the report empty). Output that cannot be written otherwise (`> report.json` on a full disk)
  // fails the command in one line, as a report that cannot be written does; stderr's own, with
  // nowhere left to say so, silently.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') return;
    process.stderr.write(`pdp: cannot write the output: ${error.message}\n`);
    process.exit(1);
  });
  process.stderr.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') process.exit(1);
  });
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    paint: painter(process.stdout),
    paintErr: painter(process.stderr),
    env: process.env,
  };
}

/** A command line that cannot be run as given: exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Input a command cannot use, such as a key file, or an outcome the server would refuse: one line, exit code 1. */
export class InputError extends Error {
  override readonly name = 'InputError';
}

/**
 * A command line parseArgs refuses, as a usage error of one line: it words some refusals over
 * three (`Option '--ttl' argument is ambiguous.` for `--ttl -5`, `--junit --json`).
 */
export function optionError(error: unknown): UsageError {
  return new UsageError((error as Error).message.replace(/\s*\n\s*/g, ' '));
}

/** Parsed flags and the policy directory (the one positional argument, default ./policies). */
export interface ParsedArgs {
  readonly dir: string;
  readonly flags: Readonly<Record<string, string | boolean | undefined>>;
}

/**
 * The arguments of a command that takes no options, read strictly: `--` ends the options (what
 * follows is an argument even when it starts with `-`), and an option is a usage error, not an
 * argument named `--out`.
 */
export function positionalArgs(args: readonly string[]): string[] {
  try {
    return parseArgs({ args: [...args], options: {}, allowPositionals: true, strict: true }).positionals;
  } catch (error) {
    throw optionError(error);
  }
}

/**
 * Refuses an option that takes a value given more than once (`--request a.json --request
 * b.json`): parseArgs keeps the last without a word, so a command would run on one of the two
 * unseen. A flag given twice says the same thing twice, and is taken.
 */
export function refuseRepeatedValues(tokens: readonly { readonly kind: string; readonly name?: string }[] | undefined, flags: FlagSpec): void {
  const seen = new Set<string>();
  for (const { kind, name } of tokens ?? []) {
    if (kind !== 'option' || name === undefined || flags[name]?.type !== 'string') continue;
    if (seen.has(name)) throw new UsageError(`--${name} is given more than once: it takes one value`);
    seen.add(name);
  }
}

/**
 * Parses `[DIR] [flags]`; unknown flags, a missing value, an option's value given twice (see
 * `refuseRepeatedValues`) or a second directory are usage errors.
 */
export function parseCommandArgs(args: readonly string[], flags: FlagSpec): ParsedArgs {
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options: { json: { type: 'boolean' }, ...flags }, allowPositionals: true, strict: true, tokens: true });
  } catch (error) {
    throw optionError(error);
  }
  refuseRepeatedValues(parsed.tokens, flags);
  if (parsed.positionals.length > 1) throw new UsageError(`expected one directory, got ${parsed.positionals.join(' ')}`);
  return { dir: parsed.positionals[0] ?? './policies', flags: parsed.values };
}

/**
 * Prints `issue` to stderr as every command does: `error FILE PATH (rule R): MESSAGE`, one line
 * whatever it quotes from a file (a case, group or action name, a file name): a line break or
 * escape sequence there would print a line of its own or drive the terminal.
 */
export function printIssue(io: Io, issue: PolicyIssue): void {
  io.err(`${io.paintErr('red', 'error')} ${printable(formatIssue(issue))}`);
}

/** Prints a rejected policy set (every issue) and returns exit code 1. */
function reportLoadError(io: Io, error: PolicyLoadError, json: boolean): number {
  if (json) {
    io.out(JSON.stringify({ ok: false, issues: error.issues }, null, 2));
  } else {
    for (const issue of error.issues) printIssue(io, issue);
    io.err(`invalid: ${error.issues.length} problem(s)`);
  }
  return 1;
}

/**
 * Runs a command body, turning a rejected policy set into its report and exit code 1, and
 * settings the server would refuse into their message and exit code 1 (with --json, one issue
 * at `(settings)` holding that message). `onIssues` is then given either's issues: a failure
 * there (a report that cannot be written) leaves them reported.
 */
export async function withLoadErrors(io: Io, json: boolean, body: () => Promise<number>, onIssues?: (issues: readonly PolicyIssue[]) => Promise<void>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof PolicyLoadError) {
      const code = reportLoadError(io, error, json);
      await onIssues?.(error.issues);
      return code;
    }
    if (error instanceof ConfigError) {
      const issue: PolicyIssue = { file: '(settings)', path: '$', message: error.message };
      if (json) io.out(JSON.stringify({ ok: false, issues: [issue] }, null, 2));
      else io.err(`${io.paintErr('red', 'error')} ${error.message}`);
      await onIssues?.([issue]);
      return 1;
    }
    throw error;
  }
}

/**
 * The settings the server reads from this environment. A variable that looks like a setting but
 * is not read is warned about on stderr first, as the server logs it: a typo would otherwise
 * fall back to the default unseen, or cause a problem of the settings that does not name it.
 */
export function serverConfig(io: Io): Config {
  for (const unread of unreadSettings(Object.keys(io.env), settingNames)) io.err(`${io.paintErr('yellow', 'warning')} ${unreadSettingText(unread)}`);
  return loadConfig(io.env);
}
