import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** The folders of a policy directory that make up one policy set. */
export function policySourceDirs(dir: string): string[] {
  return [dir, join(dir, 'data'), join(dir, 'tests')];
}

async function describeDir(dir: string): Promise<string> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch {
    return `${dir}:absent`;
  }
  const entries = await Promise.all(
    names.map(async (name) => {
      try {
        // stat, not lstat: a symlink's target is what gets loaded.
        const s = await stat(join(dir, name));
        return `${name}:${s.ino}:${s.size}:${s.mtimeMs}`;
      } catch {
        return `${name}:dangling`;
      }
    }),
  );
  return `${dir}:${entries.join('|')}`;
}

/**
 * A cheap summary of every file a policy set is read from (inode, size, modification time).
 * Equal before and after a load means no file changed while it was being read.
 */
export async function policyDirFingerprint(dir: string): Promise<string> {
  const parts = await Promise.all(policySourceDirs(dir).map(describeDir));
  return parts.join('\n');
}
