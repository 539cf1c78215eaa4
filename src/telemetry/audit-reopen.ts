import { close, constants, fstat, open, stat, type Stats } from 'node:fs';

/** How often the path is looked at, as `tail -F` and log shippers do: one stat a second. */
export const lookIntervalMs = 1000;

/** Flags of an append to the audit file; non-blocking, so a FIFO without a reader is refused (ENXIO) instead of holding a thread. */
export const appendFlags = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK;

/** Told what following the path came to. */
export interface ReopenEvents {
  /** The path names a new file (a rotation renamed the old one away), opened on `fd`: the caller writes there from its next write on, and closes the old one. */
  reopened(fd: number): void;
  /** The path no longer names the file written to, and cannot be opened; told once, until a reopen succeeds. */
  failed(error: unknown): void;
}

/** A file at the path named by the same device and inode: the one written to. */
function sameFile(a: Stats, b: Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/**
 * Follows `path`, whose file (`opened`, its stats) is open for writing: once a second, looks
 * whether the path still names that file. When it names another (logrotate's `create`: renamed,
 * and a new file made), opens that one; when it names none on two looks in a row (renamed,
 * nothing made: `mv`), makes it, the one-look wait leaving a rotation that makes the file itself
 * the moment between its rename and its create, which is then not met by a file made first. A
 * path that cannot be opened (its folder gone, no permission) is tried again at each look. The
 * looks run on the thread pool, never in a write's way. Returns what stops following.
 */
export function followPath(path: string, opened: Stats, events: ReopenEvents): () => void {
  let current = opened;
  let looking = false;
  let missing = false;
  let failing = false;
  let stopped = false;

  /** The path names the file written to, the one it had or a new one. */
  const followed = () => {
    looking = false;
    failing = false;
  };
  const failed = (error: unknown) => {
    looking = false;
    if (stopped || failing) return;
    failing = true;
    events.failed(error);
  };
  const reopen = () =>
    open(path, appendFlags, 0o666, (error, fd) => {
      if (error !== null) return failed(error);
      fstat(fd, (statError, stats) => {
        if (stopped || statError !== null || !stats.isFile()) {
          close(fd, () => undefined);
          return failed(statError ?? new Error('AUDIT_LOG_FILE no longer names a regular file'));
        }
        current = stats;
        missing = false;
        followed();
        events.reopened(fd);
      });
    });
  const look = () => {
    if (looking || stopped) return;
    looking = true;
    stat(path, (error, named) => {
      if (error === null) {
        missing = false;
        return sameFile(named, current) ? followed() : reopen();
      }
      if (error.code !== 'ENOENT') return failed(error);
      if (missing) return reopen();
      missing = true;
      looking = false;
    });
  };
  const timer = setInterval(look, lookIntervalMs).unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
