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

/**
 * The CPUs this process may keep busy: the cores Node sees, fewer under a cgroup CPU quota.
 * Node 20's libuv leaves the quota out of `availableParallelism()`, so a container limited to
 * one CPU on a 64-core node would count 64.
 */
export function usableCpus(root = defaultCgroupRoot): number {
  return Math.min(availableParallelism(), cgroupCpuLimit(root) ?? Infinity);
}
