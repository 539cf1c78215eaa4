import { readFileSync } from 'node:fs';

/**
 * A process known by its pid and the moment it started. Once it has exited and been reaped, the
 * kernel gives its pid to the next process that needs one as soon as the pid counter wraps
 * (32,768 on a small host, a few CI runs' worth), and a pid alone would then name, and signal,
 * a stranger: another test's process.
 */
export interface ProcessRef {
  readonly pid: number;
  readonly startedAt: string;
}

/** /proc/PID/stat from the state on (the fields after the command, which is in parentheses), or undefined when there is no such process. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The running process `pid`, named so that a later process given the same pid is not taken for it. */
export function processRef(pid: number): ProcessRef {
  // starttime is field 22 of stat(5): the 20th after the command.
  const startedAt = statFields(pid)?.[19];
  if (startedAt === undefined) throw new Error(`no process ${String(pid)}`);
  return { pid, startedAt };
}

/**
 * Whether the process has exited: gone, a zombie, or its pid now another process's. A worker
 * whose primary is gone is reparented, and its new parent (PID 1 in a container) need not reap
 * it: a zombie still answers `kill(pid, 0)`.
 */
export function exited(ref: ProcessRef): boolean {
  const fields = statFields(ref.pid);
  return fields === undefined || fields[0] === 'Z' || fields[19] !== ref.startedAt;
}

/** Sends `signal` to the process unless it has exited. */
export function signalIfRunning(ref: ProcessRef, signal: NodeJS.Signals): void {
  if (exited(ref)) return;
  try {
    process.kill(ref.pid, signal);
  } catch {
    // It exited between the look and the signal.
  }
}

/** Waits until every process in `refs` has exited, or `timeoutMs`; resolves with the pids of those still running. */
export async function waitUntilExited(refs: readonly ProcessRef[], timeoutMs: number): Promise<number[]> {
  const until = performance.now() + timeoutMs;
  while (refs.some((ref) => !exited(ref)) && performance.now() < until) await new Promise((r) => setTimeout(r, 50));
  return refs.filter((ref) => !exited(ref)).map((ref) => ref.pid);
}

/** Kills each process of `refs` still running: a worker whose primary is gone has no one else to stop it. */
export function killLeftovers(refs: readonly ProcessRef[]): void {
  for (const ref of refs) signalIfRunning(ref, 'SIGKILL');
}
