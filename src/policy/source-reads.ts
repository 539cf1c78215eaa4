import { FileTooLargeError, readRegularFile } from '../regular-file.js';

/**
 * Largest policy, entity data or test file read. Each entity is held to the request JSON limits
 * (see `indexEntities`); this bounds how many a file may hold, and the memory and time of a load.
 */
export const maxSourceFileBytes = 16 * 1024 * 1024;

/**
 * Most one load reads of its policy, entity data and test files together: four files of the
 * largest size. A reload holds what it reads beside the set serving, and 64 MiB of entity data
 * (400,000 users) took 690 MB of memory at its peak to load and kept 244 MB; tens of files of
 * 16 MiB each ran a serving process out of memory.
 */
const maxLoadBytes = 64 * 1024 * 1024;

/**
 * The files one load reads, counted as it reads them. A file is refused unread when its size
 * is over `maxSourceFileBytes`, or would take what the load has read past `maxLoadBytes`; one
 * that grows while it is read, once it passes either.
 */
export class SourceReads {
  #bytes = 0;

  async read(path: string): Promise<Buffer> {
    let bytes: Buffer;
    try {
      bytes = await readRegularFile(path, Math.min(maxSourceFileBytes, maxLoadBytes - this.#bytes));
    } catch (error) {
      if (!(error instanceof FileTooLargeError)) throw error;
      if (error.bytes > maxSourceFileBytes) throw new FileTooLargeError(maxSourceFileBytes, error.bytes);
      throw new Error(`with it this load would read ${this.#bytes + error.bytes} bytes, over the ${maxLoadBytes} one load reads (policy, entity data and test files together)`, { cause: error });
    }
    this.#bytes += bytes.length;
    return bytes;
  }
}
