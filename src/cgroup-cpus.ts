import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

/** Where the process's own cgroup is mounted in a container. */
export const defaultCgroupRoot = '/sys/fs/cgroup';

const digits = /^\d+$/;

/** Whole CPUs for a quota of `quota` µs per `period` µs; undefined unless both are positive integers. */
function cpusOf(quota: string | undefined, period: string | undefined): number | undefined {
  if (quota === undefined || period === undefined || !digits.test(quota) || !digits.test(period)) return undefined;
  const [q, p] = [Number(quota), Number(period)];
  return q > 0 && p > 0 ? Math.max(1, Math.ceil(q / p)) : undefined;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * The CPUs the cgroup CPU quota under `root` allows, rounded up (1.5 → 2, never below 1);
 * undefined when no quota is set (`max`, `-1`) or none can be read. cgroup v2 states it in
 * `cpu.max` ("<quota> <period>"), v1 in `cpu/cpu.cfs_quota_us` and `cpu/cpu.cfs_period_us`.
 */
export function cgroupCpuLimit(root = defaultCgroupRoot): number | undefined {
  const v2 = read(join(root, 'cpu.max'));
  if (v2 !== undefined) {
    const [quota, period] = v2.split(/\s+/);
    return cpusOf(quota, period);
  }
  return cpusOf(read(join(root, 'cpu', 'cpu.cfs_quota_us')), read(join(root, 'cpu', 'cpu.cfs_period_us')));
}

/** Where Linux states the process's CPU affinity, among its other status lines. */
export const defaultStatusFile = '/proc/self/status';

/** The CPUs of a list such as `0-3,8,10-11` (7); undefined unless it is one. */
function cpuListCount(list: string): number | undefined {
  let count = 0;
  for (const part of list.split(',')) {
    const range = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (range === null) return undefined;
    const [first, last] = [Number(range[1]), Number(range[2] ?? range[1])];
    if (last < first) return undefined;
    count += last - first + 1;
  }
  return count;
}

/**
 * The CPUs this process may run on (its affinity: `taskset`, a container's cpuset), from the
 * `Cpus_allowed_list` line of `status`; undefined where it cannot be read (not Linux).
 */
export function affinityCpus(status = defaultStatusFile): number | undefined {
  const list = /^Cpus_allowed_list:\s*(\S+)\s*$/m.exec(read(status) ?? '')?.[1];
  return list === undefined ? undefined : cpuListCount(list);
}

/**
 * The CPUs this process may keep busy: those it may run on, fewer under a cgroup CPU quota
 * read below `root`, rounded up. `availableParallelism()` counts the quota in no agreed way:
 * Node 20's libuv leaves it out, so a container limited to one CPU on a 64-core node counted 64;
 * from libuv 1.49 (the image's Node 26 has 1.52) it rounds it down, so 1.5 CPUs counted 1
 * and, as the lesser of the two, won. Under a quota the CPUs are counted from the affinity instead.
 */
export function usableCpus(root = defaultCgroupRoot, status = defaultStatusFile): number {
  const limit = cgroupCpuLimit(root);
  if (limit === undefined) return availableParallelism();
  return Math.min(affinityCpus(status) ?? availableParallelism(), limit);
}
