/**
 * How long a run of work (the decisions of a search page or a batch, the compiling of a policy
 * set) may hold the event loop before it lets it turn. Each step is small, but a run multiplies
 * it; without a turn, no other request, health check or deadline (the 503 `timeout`) is served
 * until the run ends.
 */
export const sliceMs = 5;

/**
 * A pause to await between the steps of a run: it waits for one turn of the event loop
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
