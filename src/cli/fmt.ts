import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatSource, type SourceKind } from '../policy/format.js';
import { jsonFilesIn, parseSource } from '../policy/load.js';
import { PolicyLoadError } from '../policy/errors.js';
import { parseCommandArgs, withLoadErrors, type Io } from './io.js';

interface FileOutcome {
  readonly file: string;
  /** Already in canonical form. */
  readonly canonical: boolean;
  readonly error?: string;
}

async function sourceFiles(dir: string): Promise<{ file: string; path: string; kind: SourceKind }[]> {
  let policies: string[];
  try {
    policies = await jsonFilesIn(dir);
  } catch (error) {
    throw new PolicyLoadError([{ file: dir, path: '$', message: `cannot read policy directory: ${(error as Error).message}` }]);
  }
  const tests = await jsonFilesIn(join(dir, 'tests')).catch(() => []);
  return [
    ...policies.map((name) => ({ file: name, path: join(dir, name), kind: 'policy' as const })),
    ...tests.map((name) => ({ file: join('tests', name), path: join(dir, 'tests', name), kind: 'fixture' as const })),
  ];
}

async function formatFile(file: string, path: string, kind: SourceKind, write: boolean): Promise<FileOutcome> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    return { file, canonical: false, error: `cannot read: ${(error as Error).message}` };
  }
  // A file the loader would refuse is not rewritten: a number beyond a double would come out null.
  const source = parseSource(text);
  if (!('value' in source)) return { file, canonical: false, error: source.path === '$' ? source.message : `${source.path}: ${source.message}` };
  const formatted = formatSource(source.value, kind);
  if (formatted === text) return { file, canonical: true };
  if (write) await writeFile(path, formatted);
  return { file, canonical: false };
}

function printOutcomes(io: Io, dir: string, check: boolean, outcomes: readonly FileOutcome[]): void {
  const changed = outcomes.filter((o) => !o.canonical && o.error === undefined);
  for (const o of outcomes) if (o.error !== undefined) io.err(`${io.paint('red', 'error')} ${o.file}: ${o.error}`);
  for (const o of changed) io.out(check ? `${io.paint('yellow', 'unformatted')} ${o.file}` : `formatted ${o.file}`);
  io.out(check
    ? `${changed.length} of ${outcomes.length} files need formatting${changed.length > 0 ? ` (run: pdp fmt ${dir})` : ''}`
    : `${outcomes.length} files checked, ${changed.length} reformatted`);
}

/**
 * `pdp fmt [DIR] [--check] [--json]`: rewrites the policy files in DIR and the test files in
 * DIR/tests in canonical form. With --check nothing is written; exit 1 lists the files that
 * are not canonical. Exit 1 also when a file is not valid JSON.
 */
export async function fmtCommand(args: readonly string[], io: Io): Promise<number> {
  const { dir, flags } = parseCommandArgs(args, { check: { type: 'boolean' } });
  const json = flags['json'] === true;
  const check = flags['check'] === true;
  return withLoadErrors(io, json, async () => {
    const outcomes: FileOutcome[] = [];
    for (const { file, path, kind } of await sourceFiles(dir)) outcomes.push(await formatFile(file, path, kind, !check));
    const ok = outcomes.every((o) => o.error === undefined && (o.canonical || !check));
    if (json) io.out(JSON.stringify({ ok, check, files: outcomes }, null, 2));
    else printOutcomes(io, dir, check, outcomes);
    return ok ? 0 : 1;
  });
}
