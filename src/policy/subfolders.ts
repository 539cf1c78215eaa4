import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The folders directly in `dir` (a link to one included), hidden ones excepted: a Kubernetes
 * ConfigMap's `..data`, a VCS's or an editor's own. Files are read from `tests/` and `data/`
 * themselves, never from a folder in them, so test cases or entity data put in one would be
 * left out of the set without a word; the caller refuses them. A link to nothing is no folder,
 * nor is one of the names the caller reads as files (`listed`): their read refuses them already.
 */
export async function visibleSubfolders(dir: string, listed: readonly string[]): Promise<string[]> {
  const files = new Set(listed);
  const folders: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || files.has(entry.name)) continue;
    if (entry.isDirectory()) folders.push(entry.name);
    else if (entry.isSymbolicLink() && (await stat(join(dir, entry.name)).then((s) => s.isDirectory(), () => false))) folders.push(entry.name);
  }
  return folders.sort();
}
