import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { loadPolicyDir } from '../../src/policy/load.js';

/** File contents by path relative to a policy directory; objects are written as JSON. */
export type PolicyFiles = Readonly<Record<string, unknown>>;

function text(content: unknown): string {
  return typeof content === 'string' ? content : `${JSON.stringify(content, null, 2)}\n`;
}

/** A fresh temporary directory, removed by the returned function. */
export async function tempDir(prefix = 'pdp-'): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Writes files in place (truncate, then write), as a plain editor save does. */
export async function writeFiles(dir: string, files: PolicyFiles): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), text(content));
  }
}

/**
 * Writes files in place within one turn of the event loop, so a set of files changes
 * within microseconds even while the test process is busy.
 */
export function writeFilesNow(dir: string, files: PolicyFiles): void {
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text(content));
  }
}

/**
 * Writes each file beside its target, then renames them all over their targets in one turn
 * of the event loop, as editors such as vim or VS Code save.
 */
export async function writeFilesByRename(dir: string, files: PolicyFiles): Promise<void> {
  const moves: [string, string][] = [];
  for (const [name, content] of Object.entries(files)) {
    const target = join(dir, name);
    await mkdir(dirname(target), { recursive: true });
    const temporary = join(dirname(target), `.${basename(target)}.${Math.random().toString(36).slice(2)}.swp`);
    await writeFile(temporary, text(content));
    moves.push([temporary, target]);
  }
  for (const [from, to] of moves) renameSync(from, to);
}

/** A small valid policy for resource type `doc`: one permit rule for `read`. */
export function docPolicy(id: string, ruleId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, resource: 'doc', rules: [{ id: ruleId, effect: 'permit', actions: ['read'], ...extra }] };
}

/** The policy version `files` load to, written and loaded in a directory of their own. */
export async function versionOf(files: PolicyFiles): Promise<string> {
  const staging = await tempDir();
  try {
    await writeFiles(staging.path, files);
    return (await loadPolicyDir(staging.path)).version;
  } finally {
    await staging.remove();
  }
}
