/**
 * A clock for bounds on the work this process does: it reads the lesser of the wall time and
 * the process's CPU time since it started. Time spent waiting for a core on a loaded machine
 * is not counted against the work (the CPU time leaves it out), nor is other threads' work
 * beyond the time that passed (the wall time bounds it), so a bound of tens of milliseconds
 * holds however busy the machine running the tests is.
 */
export function startWorkClock(): () => number {
  const wall = performance.now();
  const cpu = process.cpuUsage();
  return () => {
    const used = process.cpuUsage(cpu);
    return Math.min(performance.now() - wall, (used.user + used.system) / 1_000);
  };
}
