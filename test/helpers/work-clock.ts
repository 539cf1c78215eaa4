import { PerformanceObserver } from 'node:perf_hooks';

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

/** Gaps of the event loop shorter than this are not looked at for collections within them, ms. */
const collectionsLookedAtFromMs = 5;

/**
 * Runs `work` and measures, on the work clock, the longest the event loop went without a turn
 * meanwhile: how long `work` held it in one piece, to its end (all of it when it never let the
 * loop turn: no tick runs before it ends); and `total`, how long all of `work` took. A bound on
 * `longest` as a share of `total` holds on a slow host as on a fast one: both grow alike.
 *
 * The garbage collector's pauses within a gap are taken out of it: they hold the loop whatever
 * `work` does, and the test process's heap is shared with the files run before it, so one
 * collection of it can outlast a bound by itself (a 100 ms bound failed at 105 ms in CI, where
 * the gap measures 20-40 ms).
 */
export async function longestLoopHold<T>(work: () => Promise<T>): Promise<{ readonly longest: number; readonly total: number; readonly result: PromiseSettledResult<T> }> {
  const collections: { readonly startTime: number; readonly duration: number }[] = [];
  const observer = new PerformanceObserver((list) => collections.push(...list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  let shortLongest = 0;
  const long: { readonly from: number; readonly to: number; readonly took: number }[] = [];
  let from = performance.now();
  let sinceLast = startWorkClock();
  let done = false;
  const endGap = (): void => {
    const took = sinceLast();
    const to = performance.now();
    if (took < collectionsLookedAtFromMs) shortLongest = Math.max(shortLongest, took);
    else long.push({ from, to, took });
    from = to;
    sinceLast = startWorkClock();
  };
  const tick = (): void => {
    endGap();
    if (!done) setImmediate(tick);
  };
  const whole = startWorkClock();
  setImmediate(tick);
  const [result] = await Promise.allSettled([work()]);
  endGap();
  done = true;
  const total = whole();
  // The observer is told of collections on a later turn of the loop.
  await new Promise((resolve) => setTimeout(resolve, 10));
  observer.disconnect();
  const collecting = (gap: { readonly from: number; readonly to: number }): number =>
    collections.reduce((sum, { startTime, duration }) => sum + Math.max(0, Math.min(gap.to, startTime + duration) - Math.max(gap.from, startTime)), 0);
  const longest = long.reduce((most, gap) => Math.max(most, gap.took - collecting(gap)), shortLongest);
  return { longest, total, result: result as PromiseSettledResult<T> };
}
