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

/**
 * Runs `work` and measures, on the work clock, the longest the event loop went without a turn
 * meanwhile: how long `work` held it in one piece, to its end (all of it when it never let the
 * loop turn: no tick runs before it ends); and `total`, how long all of `work` took. A bound on
 * `longest` as a share of `total` holds on a slow host as on a fast one: both grow alike.
 */
export async function longestLoopHold<T>(work: () => Promise<T>): Promise<{ readonly longest: number; readonly total: number; readonly result: PromiseSettledResult<T> }> {
  let longest = 0;
  let sinceLast = startWorkClock();
  let done = false;
  const tick = (): void => {
    longest = Math.max(longest, sinceLast());
    sinceLast = startWorkClock();
    if (!done) setImmediate(tick);
  };
  const whole = startWorkClock();
  setImmediate(tick);
  const [result] = await Promise.allSettled([work()]);
  longest = Math.max(longest, sinceLast());
  done = true;
  return { longest, total: whole(), result: result as PromiseSettledResult<T> };
}
