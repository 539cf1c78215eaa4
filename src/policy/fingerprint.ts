import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isSourceName, policyDirRules, readFolders, setFolderRules, type FolderRules } from './source-names.js';

/** The folders a load of the policy directory `dir` reads files from (see `readFolders`). */
export function policySourceDirs(dir: string, withTests: boolean): string[] {
  return [dir, ...[...readFolders(withTests)].map((folder) => join(dir, folder))];
}

/** The entries of the folder `dir` a load reads that it judges by `rules`, each with what the load reads of it. */
async function describeDir(dir: string, rules: FolderRules): Promise<string> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch {
    return `${dir}:absent`;
  }
  // A log, an editor's swap file or notes written beside the policies all along made every
  // attempt of a reload differ, which failed as "files kept changing" with no policy changed;
  // so did new ones (a log rotated, an editor's backup) while they were listed at all.
  const entries = await Promise.all(
    names.filter((name) => !name.startsWith('.') && !rules.skipped.has(name)).map(async (name) => {
      // stat, not lstat: a symlink's target is what gets loaded.
      const s = await stat(join(dir, name)).catch(() => undefined);
      if (isSourceName(name)) return s === undefined ? `${name}:dangling` : `${name}:${s.ino}:${s.size}:${s.mtimeMs}`;
      // Of an entry the load does not read, only a folder matters (a visible folder fails the
      // load), and what a folder it reads is when not one (a file, a link to nothing fail it).
      // A skipped one (tests/ when the tests do not run) is not even listed: made, replaced or
      // removed all along, it failed reloads that never read it as files that kept changing.
      if (s?.isDirectory() === true) return `${name}:folder`;
      return rules.sets.has(name) ? `${name}:${s === undefined ? 'dangling' : 'other'}` : undefined;
    }),
  );
  return `${dir}:${entries.filter((entry) => entry !== undefined).join('|')}`;
}

/**
 * A cheap summary of every file a policy set is read from (inode, size, modification time), and
 * of the other entries the load judges by name and kind. Equal before and after a load means no
 * file changed while it was being read. `tests/`, its files and what it is, counts only for a
 * load that runs the tests (`withTests`): test files written all along failed reloads that
 * never read them.
 */
export async function policyDirFingerprint(dir: string, withTests: boolean): Promise<string> {
  const parts = await Promise.all([
    describeDir(dir, policyDirRules(withTests)),
    ...[...readFolders(withTests)].map((folder) => describeDir(join(dir, folder), setFolderRules)),
  ]);
  return parts.join('\n');
}
