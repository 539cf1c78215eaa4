import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { access, lstat, open, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes `text` to a hidden file beside `target` (the loader skips hidden names) and renames it
 * over `target`, with the mode and owner of `kept` if given (only root may give a file away;
 * anyone else keeps their own as the owner), else as a new file.
 */
async function renameOver(target: string, text: string, kept?: Stats): Promise<void> {
  const temporary = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  const out = await open(temporary, 'wx', kept === undefined ? 0o666 : 0o600);
  try {
    try {
      await out.writeFile(text);
      if (kept !== undefined) {
        await out.chmod(kept.mode & 0o7777);
        await out.chown(kept.uid, kept.gid).catch(() => undefined);
      }
      await out.sync();
    } finally {
      await out.close();
    }
    await rename(temporary, target);
  } catch (error) {
    // What failed is what to report: a folder that lets nothing be removed (append-only) would
    // otherwise have it replaced by rm's own error on the file beside it.
    await rm(temporary, { force: true }).catch(() => undefined);
    throw error;
  }
}

/**
 * Replaces the content of the file at `path` with `text` whole or not at all: the text goes to a
 * hidden file beside it, which is then renamed over it. Written in place, a write cut short
 * (disk full, a file size limit) left the file truncated, its policy lost, and a watching server
 * could read it half written. A link is followed, so it stays a link (a ConfigMap's, or one into
 * another checkout); the file's mode is kept, and its owner where the process may set it. A file
 * this process may not write is refused as an in-place write would be, though the folder would
 * let a rename through.
 */
export async function replaceFile(path: string, text: string): Promise<void> {
  const target = await realpath(path);
  await access(target, constants.W_OK);
  await renameOver(target, text, await stat(target));
}

/**
 * Writes a report to `path` whole or not at all, as replaceFile does, creating it when there is
 * none: written in place, a write cut short left a truncated report for a CI server to read. What
 * is no regular file (`/dev/stdout`, a FIFO) or a link to nothing is written to as it is.
 */
export async function writeReportFile(path: string, text: string): Promise<void> {
  const found = await lstat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (found === undefined) {
    // A folder missing or not writable is named as such, not by the hidden file's name.
    await access(dirname(path), constants.W_OK);
    return renameOver(path, text);
  }
  const target = found.isSymbolicLink() ? await stat(path).catch(() => undefined) : found;
  if (target?.isFile() === true) return replaceFile(path, text);
  await writeFile(path, text);
}
