/**
 * The service's entry point (`node dist/main.js`). The rest of the service takes a few hundred
 * milliseconds to load (0.3 s here, more on a busy machine), and the signal handlers of start.ts
 * exist only once it has: until then a SIGTERM killed the process, or, as a container's main
 * process (PID 1, which gets no signal it does not handle), was dropped, and the service went on
 * to serve until the runtime's kill. So this file imports nothing before it holds the signals: a
 * SIGTERM or SIGINT meanwhile stops the service as soon as it can log it, and a SIGHUP is moot
 * (the policies are yet to load).
 */
const held: NodeJS.Signals[] = [];
const hold = (signal: NodeJS.Signals): void => void held.push(signal);
const signals = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
for (const signal of signals) process.on(signal, hold);

const { run } = await import('./start.js');
// start.ts installs its own handlers before it first waits, so these go only once it has: a
// signal with no listener left is dropped by Node, even one it caught while the loaded modules
// ran (it reaches listeners at the loop's next turn), and meanwhile takes its default action.
run(held.find((signal) => signal !== 'SIGHUP'));
for (const signal of signals) process.off(signal, hold);
