import { constants } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';

/** Most one read of a file asks for: a 16 MiB policy file in 64 reads; a small file in one, and one to find its end. */
const readChunkBytes = 256 * 1024;

const notRegularFile = 'not a regular file (a directory, FIFO, socket or device)';

/** A file refused for holding more than was allowed; `bytes`: its size, or what was read of it when it grew past the bound. */
export class FileTooLargeError extends Error {
  override readonly name = 'FileTooLargeError';
  constructor(readonly maxBytes: number, readonly bytes: number) {
    super(`larger than ${maxBytes} bytes`);
  }
}

/**
 * The bytes of a regular file; anything else is refused before a read can block or run on for
 * ever (a FIFO waits for a writer, /dev/zero never ends). The
 * name is checked first, so a FIFO is never opened: opening one for reading would release a
 * writer waiting on it into a pipe we then close. The check is made again on the opened file,
 * so a swap in between slips nothing in, and O_NONBLOCK makes that open return at once should
 * the swap bring a FIFO. A file over `maxBytes` is refused unread, and one that grows past it
 * while it is read, once it has (FileTooLargeError).
 */
export async function readRegularFile(path: string, maxBytes = Infinity): Promise<Buffer> {
  if (!(await stat(path)).isFile()) throw new Error(notRegularFile);
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new Error(notRegularFile);
    if (stats.size > maxBytes) throw new FileTooLargeError(maxBytes, stats.size);
    return await readAtMost(handle, stats.size, maxBytes);
  } finally {
    await handle.close();
  }
}

/**
 * An open file of `size` bytes, refused once it passes `maxBytes`: it may have grown since its
 * size was read. A read asks for at least as much as has been read so far, so one longer than
 * its size said (a file being written, a /proc file whose size reads as 0) takes a few dozen
 * reads more: asked for `size + 1` bytes each time, it was read a byte at a time, 400 kB in over 10 s
 * and 16 MiB in minutes, holding every reload queued behind it.
 */
async function readAtMost(handle: FileHandle, size: number, maxBytes: number): Promise<Buffer> {
  let chunkBytes = Math.min(size + 1, readChunkBytes);
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const { bytesRead, buffer } = await handle.read({ buffer: Buffer.allocUnsafe(chunkBytes) });
    if (bytesRead === 0) return Buffer.concat(chunks, total);
    total += bytesRead;
    if (total > maxBytes) throw new FileTooLargeError(maxBytes, total);
    chunks.push(buffer.subarray(0, bytesRead));
    chunkBytes = Math.min(Math.max(chunkBytes, total), readChunkBytes);
  }
}
