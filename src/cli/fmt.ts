import { join } from 'node:path';
import { compilePolicies } from '../policy/compile.js';
import { PolicyLoadError, type PolicyIssue } from '../policy/errors.js';
import { fixtureFileSchema } from '../policy/fixtures.js';
import { formatSource, type SourceKind } from '../policy/format.js';
import { foldedActionIssues, jsonFilesIn, misnamedIssues, policyRuleAt, readSource, unreadableDirectory, validateSource, type SourceListing } from '../policy/load.js';
import { maxSourceFileBytes, SourceReads } from '../policy/source-reads.js';
import { policySchema } from '../policy/schema.js';
import { testFileNames } from '../policy/testing.js';
import { parseCommandArgs, printIssue, withLoadErrors, type Io } from './io.js';
import { commandOptions } from './options.js';
import { printable } from '../printable.js';
import { replaceFile } from './replace-file.js';

interface FileOutcome {
  readonly file: string;
  /** Already in canonical form. */
  readonly canonical: boolean;
  /** Why it was left as it is: what the loader would find wrong with it, or why it could not be written. */
  readonly problems?: readonly PolicyIssue[];
}

/** A problem of `file` as a whole, at `$`. */
const fileProblem = (file: string, message: string): PolicyIssue[] => [{ file, path: '$', message }];

async function sourceFiles(dir: string): Promise<{ file: string; path: string; kind: SourceKind }[]> {
  let listing: SourceListing;
  try {
    listing = await jsonFilesIn(dir);
  } catch (error) {
    throw await unreadableDirectory(dir, error);
  }
  if (listing.misnamed.length > 0) throw new PolicyLoadError(misnamedIssues(listing));
  const policies = listing.names;
  // As validate does: a directory of no policies is most likely the wrong one.
  if (policies.length === 0) throw new PolicyLoadError([{ file: dir, path: '$', message: 'no policy files (*.json) found' }]);
  const tests = await testFileNames(join(dir, 'tests'));
  return [
    ...policies.map((name) => ({ file: name, path: join(dir, name), kind: 'policy' as const })),
    ...tests.map((name) => ({ file: join('tests', name), path: join(dir, 'tests', name), kind: 'fixture' as const })),
  ];
}

/** What the loader would find wrong with this file on its own: its schema, and a policy's action names, rule ids and conditions. */
async function loaderIssues(raw: unknown, file: string, kind: SourceKind): Promise<PolicyIssue[]> {
  const issues: PolicyIssue[] = [];
  if (kind === 'fixture') {
    await validateSource(raw, file, fixtureFileSchema, issues);
    return issues;
  }
  const policy = await validateSource(raw, file, policySchema, issues, policyRuleAt);
  if (policy === undefined) return issues;
  issues.push(...(await foldedActionIssues([{ file, policy }])));
  try {
    compilePolicies([{ file, policy }]);
  } catch (error) {
    if (!(error instanceof PolicyLoadError)) throw error;
    issues.push(...error.issues);
  }
  return issues;
}

/** An issue without its file, which the outcome names, as --json gives it: `$.rules[0] (rule r1): …`, or just the message at the root. */
function issueText(issue: PolicyIssue): string {
  const rule = issue.rule === undefined ? '' : ` (rule ${issue.rule})`;
  return issue.path === '$' && rule === '' ? issue.message : `${issue.path}${rule}: ${issue.message}`;
}

async function formatFile(file: string, path: string, kind: SourceKind, write: boolean): Promise<FileOutcome> {
  // A file the loader would refuse is left as it is: some would change meaning on the way (a
  // number beyond a double would come out null, one a double does not hold exactly rounded, a key
  // written twice would keep one value).
  const issues: PolicyIssue[] = [];
  // One file at a time, each read on its own: only the bound of one file applies.
  const source = await readSource(path, file, issues, new SourceReads());
  if (source !== undefined) issues.push(...(await loaderIssues(source.value, file, kind)));
  if (source === undefined || issues.length > 0) return { file, canonical: false, problems: issues };
  const formatted = formatSource(source.value, kind);
  if (formatted === source.text) return { file, canonical: true };
  // Laid out one member a line, a file can outgrow what the loader reads: it is not made one the loader would refuse.
  const size = Buffer.byteLength(formatted);
  if (size > maxSourceFileBytes) return { file, canonical: false, problems: fileProblem(file, `formatted, it would be ${size} bytes, over the ${maxSourceFileBytes} the loader reads: split it`) };
  if (!write) return { file, canonical: false };
  try {
    await replaceFile(path, formatted);
  } catch (error) {
    return { file, canonical: false, problems: fileProblem(file, `cannot write: ${(error as Error).message}`) };
  }
  return { file, canonical: false };
}

/** `outcome` as --json gives it: its problems, if any, in one `error` text. */
function jsonOutcome({ file, canonical, problems }: FileOutcome): { file: string; canonical: boolean; error?: string } {
  return problems === undefined ? { file, canonical } : { file, canonical, error: problems.map(issueText).join('; ') };
}

/**
 * `dir` as the operand of a command to paste into a shell: as it is when it holds only characters
 * no shell reads specially (`policies`, `./a/b-1`), else in single quotes (`'my policies'`,
 * `'it'\''s'`); after `--` when it starts with `-`, which `pdp` would read as an option.
 */
function shellOperand(dir: string): string {
  const word = /^[\w@%+=:,./-]+$/.test(dir) ? dir : `'${dir.replaceAll("'", String.raw`'\''`)}'`;
  return dir.startsWith('-') ? `-- ${word}` : word;
}

/**
 * Each problem as validate prints it (see printIssue), then one line per file formatted,
 * whatever its name holds: a line break there printed a line of its own (`1 files checked, 0
 * reformatted`), an escape sequence drove the terminal.
 */
function printOutcomes(io: Io, dir: string, check: boolean, outcomes: readonly FileOutcome[]): void {
  const changed = outcomes.filter((o) => !o.canonical && o.problems === undefined);
  for (const o of outcomes) for (const problem of o.problems ?? []) printIssue(io, problem);
  for (const o of changed) io.out(check ? `${io.paint('yellow', 'unformatted')} ${printable(o.file)}` : `formatted ${printable(o.file)}`);
  const failed = outcomes.length - changed.length - outcomes.filter((o) => o.canonical).length;
  // Without it, a run that formatted nothing for an error read as a clean one.
  const failedText = failed > 0 ? `, ${failed} not ${check ? 'checked' : 'formatted'} (see the errors above)` : '';
  io.out(check
    ? `${changed.length} of ${outcomes.length} files need formatting${failedText}${changed.length > 0 ? ` (run: pdp fmt ${printable(shellOperand(dir))})` : ''}`
    : `${outcomes.length} files checked, ${changed.length} reformatted${failedText}`);
}

/**
 * `pdp fmt [DIR] [--check] [--json]`: rewrites the policy files in DIR and the test files in
 * DIR/tests in canonical form. With --check nothing is written; exit 1 lists the files that
 * are not canonical. Exit 1 also when a file cannot be read or written, or the loader would
 * refuse it (the others are formatted all the same), and when DIR holds no policy file or
 * DIR/tests cannot be read (nothing is formatted).
 */
export async function fmtCommand(args: readonly string[], io: Io): Promise<number> {
  const { dir, flags } = parseCommandArgs(args, commandOptions.fmt);
  const json = flags['json'] === true;
  const check = flags['check'] === true;
  return withLoadErrors(io, json, async () => {
    const outcomes: FileOutcome[] = [];
    for (const { file, path, kind } of await sourceFiles(dir)) outcomes.push(await formatFile(file, path, kind, !check));
    const ok = outcomes.every((o) => o.problems === undefined && (o.canonical || !check));
    if (json) io.out(JSON.stringify({ ok, check, files: outcomes.map(jsonOutcome) }, null, 2));
    else printOutcomes(io, dir, check, outcomes);
    return ok ? 0 : 1;
  });
}
