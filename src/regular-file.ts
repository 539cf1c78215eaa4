import { constants } from 'node:fs';
import { open, stat } from 'node:fs/promises';

const notRegularFile = 'not a regular file (a directory, FIFO, socket or device)';

/**
 * The bytes of a regular file; anything else is refused before a read can block or run on for
 * ever (a FIFO waits for a writer, /dev/zero never ends). The
 * name is checked first, so a FIFO is never opened: opening one for reading would release a
 * writer waiting on it into a pipe we then close. The check is made again on the opened file,
 * so a swap in between slips nothing in, and O_NONBLOCK makes that open return at once should
 * the swap bring a FIFO. A file over `maxBytes` is refused unread.
 */
export async function readRegularFile(path: string, maxBytes = Infinity): Promise<Buffer> {
  if (!(await stat(path)).isFile()) throw new Error(notRegularFile);
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new Error(notRegularFile);
    if (stats.size > maxBytes) throw new Error(`larger than ${maxBytes} bytes`);
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}
