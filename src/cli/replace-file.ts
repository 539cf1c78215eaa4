import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, open, realpath, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Replaces the content of the file at `path` with `text` whole or not at all: the text goes to a
 * hidden file beside it (the loader skips hidden names), which is then renamed over it. Written
 * in place, a write cut short (disk full, a file size limit) left the file truncated, its policy
 * lost, and a watching server could read it half written. A link is followed, so it stays a link
 * (a ConfigMap's, or one into another checkout); the file's mode is kept, and its owner where the
 * process may set it. A file this process may not write is refused as an in-place write would be,
 * though the folder would let a rename through.
 */
export async function replaceFile(path: string, text: string): Promise<void> {
  const target = await realpath(path);
  await access(target, constants.W_OK);
  const temporary = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  const stats = await stat(target);
  const out = await open(temporary, 'wx', 0o600);
  try {
    try {
      await out.writeFile(text);
      await out.chmod(stats.mode & 0o7777);
      // Only root may give a file away; anyone else keeps their own as the owner.
      await out.chown(stats.uid, stats.gid).catch(() => undefined);
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
