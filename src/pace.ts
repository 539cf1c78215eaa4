/**
 * How long a run of work (the decisions of a search page or a batch, the compiling of a policy
 * set) may hold the event loop before it lets it turn. Each step is small, but a run multiplies
 * it; without a turn, no other request, health check or deadline (the 503 `timeout`) is served
 * until the run ends.
 */
export const sliceMs = 5;

/**
 * How many times the event loop goes round in a pause. Each round ends in its check phase
 * (setImmediate's); one begun there polls for I/O before it ends, but one begun in the poll phase,
 * where a request's own I/O is handled (the first slice of a batch or a search page), does not.
 * Three rounds poll at least twice wherever the pause was taken: a request on a new connection is
 * accepted in one poll and read in the next, so it is answered before the run goes on. With one,
 * a health check sent during a batch's first item waited out three items.
 */
const rounds = 3;

/**
 * A pause to await between the steps of a run: it lets the event loop go round (timers and I/O
 * first, see `rounds`) once the run has kept it for `sliceMs`, and returns at once otherwise.
 */
export function pacer(): () => Promise<void> {
  let since = performance.now();
  return async () => {
    if (performance.now() - since < sliceMs) return;
    for (let round = 0; round < rounds; round += 1) await new Promise<void>((resolve) => setImmediate(resolve));
    since = performance.now();
  };
}
