/**
 * How long a run of decisions (a search page, a batch) may hold the event loop before it lets
 * it turn. Each decision is bounded at load, but a run multiplies it; without a turn, no other
 * request, health check or deadline (the 503 `timeout`) is served until the run ends.
 */
const sliceMs = 5;

/**
 * A pause to await between the decisions of a run: it waits for one turn of the event loop
 * (timers and I/O first) once the run has kept it for `sliceMs`, and returns at once otherwise.
 */
export function pacer(): () => Promise<void> {
  let since = performance.now();
  return async () => {
    if (performance.now() - since < sliceMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    since = performance.now();
  };
}
