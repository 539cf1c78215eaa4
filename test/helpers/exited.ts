import { readFileSync } from 'node:fs';
import { alive } from './spawned.js';

/**
 * Whether the process has exited: gone, or a zombie. A worker whose primary is gone is
 * reparented, and its new parent (PID 1 in a container) need not reap it: a zombie still
 * answers `kill(pid, 0)`.
 */
export function exited(pid: number): boolean {
  if (!alive(pid)) return true;
  try {
    return /^\S+ \(.*\) Z/s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return !alive(pid);
  }
}

/** Waits until every process in `pids` has exited, or `timeoutMs`; resolves with those still running. */
export async function waitUntilExited(pids: readonly number[], timeoutMs: number): Promise<number[]> {
  const until = performance.now() + timeoutMs;
  while (pids.some((pid) => !exited(pid)) && performance.now() < until) await new Promise((r) => setTimeout(r, 50));
  return pids.filter((pid) => !exited(pid));
}

/** Kills, by pid, each process of `pids` still running: a worker whose primary is gone has no one else to stop it. */
export function killLeftovers(pids: readonly number[]): void {
  for (const pid of pids) if (!exited(pid)) process.kill(pid, 'SIGKILL');
}
