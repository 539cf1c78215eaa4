import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { epochNow, type LoadConfig, type LoadEvent, type LoadSummary } from './load-protocol.js';

const register = resolve(import.meta.dirname, '../../ts-register.mjs');
const loadScript = resolve(import.meta.dirname, '../load.ts');

type EventName = LoadEvent['event'];
type EventOf<N extends EventName> = Extract<LoadEvent, { event: N }>;

/** A running load process, seen from the harness. */
export interface LoadRun {
  /** The first event of that name (resolves at once if it already came). */
  waitFor<N extends EventName>(name: N): Promise<EventOf<N>>;
  /** Starts a new phase: requests started from `at` (default: now) on are counted under `name`. */
  mark(name: string, at?: number): void;
  /** Every `interval` event so far. */
  readonly intervals: readonly EventOf<'interval'>[];
  readonly done: Promise<LoadSummary>;
  readonly pid: number | undefined;
  stop(): void;
}

/** Starts bench/faults/load.ts as a second process with `config`. */
export function startLoad(config: LoadConfig): LoadRun {
  const child = spawn(process.execPath, ['--import', register, loadScript, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const seen: LoadEvent[] = [];
  const waiting: { name: EventName; resolve: (event: LoadEvent) => void }[] = [];
  const intervals: EventOf<'interval'>[] = [];
  let finish: (summary: LoadSummary) => void = () => undefined;
  let fail: (error: Error) => void = () => undefined;
  const done = new Promise<LoadSummary>((resolveDone, rejectDone) => {
    finish = resolveDone;
    fail = rejectDone;
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    const event = JSON.parse(line) as LoadEvent;
    seen.push(event);
    if (event.event === 'interval') intervals.push(event);
    if (event.event === 'done') finish(event.summary);
    for (const waiter of waiting.filter((w) => w.name === event.event)) waiter.resolve(event);
  });
  child.once('exit', (code) => fail(new Error(`load process exited with code ${code} before its summary`)));
  return {
    waitFor<N extends EventName>(name: N): Promise<EventOf<N>> {
      const already = seen.find((e) => e.event === name);
      if (already !== undefined) return Promise.resolve(already as EventOf<N>);
      return new Promise((resolveEvent) => waiting.push({ name, resolve: (e) => resolveEvent(e as EventOf<N>) }));
    },
    mark(name, at = epochNow()) {
      child.stdin.write(`${JSON.stringify({ mark: name, at })}\n`);
    },
    intervals,
    done,
    pid: child.pid,
    stop() {
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
