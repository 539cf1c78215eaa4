import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { affinityCpus, cgroupCpuLimit, usableCpus } from '../src/cgroup-cpus.js';
import { workerCount } from '../src/cluster.js';
import { tempDir } from './helpers/tmp.js';

/** A cgroup root holding cgroup v2's `cpu.max`. */
function v2(cpuMax: string): Promise<string> {
  return tempDir({ 'cpu.max': `${cpuMax}\n` });
}

/** A cgroup root holding cgroup v1's CFS quota and period. */
async function v1(quota: string, period: string): Promise<string> {
  const root = await tempDir();
  await mkdir(join(root, 'cpu'));
  await writeFile(join(root, 'cpu', 'cpu.cfs_quota_us'), `${quota}\n`);
  await writeFile(join(root, 'cpu', 'cpu.cfs_period_us'), `${period}\n`);
  return root;
}

/** A /proc/self/status whose affinity is the CPU list `cpus` (`0-3,8`). */
async function status(cpus: string): Promise<string> {
  const dir = await tempDir({ status: `Name:\tnode\nCpus_allowed:\tff\nCpus_allowed_list:\t${cpus}\nvoluntary_ctxt_switches:\t9\n` });
  return join(dir, 'status');
}

describe('the CPUs a cgroup CPU quota allows', () => {
  it('reads cgroup v2 cpu.max, rounding up and never below 1', async () => {
    expect(cgroupCpuLimit(await v2('max 100000'))).toBeUndefined();
    expect(cgroupCpuLimit(await v2('100000 100000'))).toBe(1);
    expect(cgroupCpuLimit(await v2('150000 100000'))).toBe(2);
    expect(cgroupCpuLimit(await v2('10000 100000'))).toBe(1);
    expect(cgroupCpuLimit(await v2('400000 100000'))).toBe(4);
  });

  it('reads cgroup v1 cpu.cfs_quota_us and cpu.cfs_period_us', async () => {
    expect(cgroupCpuLimit(await v1('-1', '100000'))).toBeUndefined();
    expect(cgroupCpuLimit(await v1('50000', '100000'))).toBe(1);
    expect(cgroupCpuLimit(await v1('250000', '100000'))).toBe(3);
  });

  it('takes a missing or unreadable quota for no limit', async () => {
    expect(cgroupCpuLimit(await tempDir())).toBeUndefined();
    expect(cgroupCpuLimit(join(await tempDir(), 'absent'))).toBeUndefined();
    expect(cgroupCpuLimit(await v2('lots 100000'))).toBeUndefined();
    expect(cgroupCpuLimit(await v2('0 100000'))).toBeUndefined();
    expect(cgroupCpuLimit(await v1('100000', '0'))).toBeUndefined();
  });

  it('counts the cores Node sees, fewer under a quota', async () => {
    expect(usableCpus(await tempDir())).toBe(availableParallelism());
    expect(usableCpus(await v2('100000 100000'))).toBe(1);
    expect(usableCpus(await v2(`${String(availableParallelism() * 2 * 100_000)} 100000`))).toBe(availableParallelism());
  });
});

describe('the CPUs this process may run on', () => {
  it('counts the affinity list of its status', async () => {
    expect(affinityCpus(await status('0'))).toBe(1);
    expect(affinityCpus(await status('0-3'))).toBe(4);
    expect(affinityCpus(await status('0-3,8-11,14'))).toBe(9);
  });

  it('counts nothing where no list can be read', async () => {
    expect(affinityCpus(join(await tempDir(), 'absent'))).toBeUndefined();
    expect(affinityCpus(await status('0-'))).toBeUndefined();
    expect(affinityCpus(await status('3-1'))).toBeUndefined();
    expect(affinityCpus(join(await tempDir({ status: 'Name:\tnode\n' }), 'status'))).toBeUndefined();
  });

  // Node 22's libuv and later apply the quota in availableParallelism() themselves, rounded
  // down (1.5 CPUs: 1), so the CPUs under a quota are counted from the affinity, not from it.
  it('rounds a quota up, whatever availableParallelism() makes of it', async () => {
    expect(usableCpus(await v2('150000 100000'), await status('0-3'))).toBe(2);
    expect(usableCpus(await v2('350000 100000'), await status('0-7'))).toBe(4);
    expect(usableCpus(await v2('600000 100000'), await status('0-3'))).toBe(4);
    expect(usableCpus(await v1('50000', '100000'), await status('0-63'))).toBe(1);
  });
});

describe('the default number of workers', () => {
  it('is one per usable CPU in production and for WORKERS=auto, a quota of 1.5 CPUs giving at most 2', async () => {
    const limited = await v2('150000 100000');
    const expected = Math.min(availableParallelism(), 2);
    expect(workerCount(undefined, 'production', limited)).toBe(expected);
    // Read as every setting is, without surrounding spaces or the \r of a file written on Windows.
    expect(workerCount(undefined, ' production\r', limited)).toBe(expected);
    expect(workerCount('auto', 'test', limited)).toBe(expected);
    expect(workerCount('auto', 'test', await v2('50000 100000'))).toBe(1);
    expect(workerCount(undefined, 'production', await tempDir())).toBe(availableParallelism());
  });

  it('is at most 256, as an explicit WORKERS is, on a host with more usable CPUs', async () => {
    const unlimited = await v2(`${String(1024 * 100_000)} 100000`);
    const cores = await status('0-511');
    expect(workerCount('auto', 'test', unlimited, cores)).toBe(256);
    expect(workerCount(undefined, 'production', unlimited, cores)).toBe(256);
  });

  it('keeps an explicit WORKERS and the single process outside production', async () => {
    const limited = await v2('100000 100000');
    expect(workerCount(4, 'production', limited)).toBe(4);
    expect(workerCount(undefined, 'test', limited)).toBe(1);
  });
});
