import { spawn, type ChildProcess } from 'node:child_process';
import type { TestContext } from 'vitest';
import { trickleRequest, type RawResponse } from './raw-http.js';

/** A process started by a test, with its stderr lines as parsed JSON where they are JSON. */
export interface Spawned {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[];
  /** Resolves once `count` log lines satisfy `match`; rejects on exit or after `timeoutMs` (`waitForMs` unless given). */
  waitFor(match: (line: Record<string, unknown>) => boolean, count?: number, timeoutMs?: number): Promise<Record<string, unknown>[]>;
  /** Resolves with the exit code (or signal name) once stderr is read to its end, or 2 s after the exit. */
  exited: Promise<number | string>;
}

/**
 * How long `waitFor` waits for a line unless told otherwise: a WORKERS=2 start, three Node
 * processes, took up to 14 s on a machine at a load of 17.
 */
const waitForMs = 60_000;

/** How long `exited` waits, after the exit, for the rest of stderr. */
const stderrGraceMs = 2_000;

/**
 * Starts `node <script>` with `env` and PATH only, as the other process helpers do: a setting of
 * the test run's own (REDIS_URL, which `npm test` takes for its Redis) must not reach a service
 * the test configures. Logs are read from stderr (pino JSON). stdout is ignored unless `stdout`
 * is `'pipe'` (then `child.stdout` is the test's to read).
 */
export function spawnNode(script: string, env: Record<string, string | undefined>, stdout: 'ignore' | 'pipe' = 'ignore'): Spawned {
  return spawnLogged(process.execPath, [script], env, stdout);
}

/** `command` with `args`, as `spawnNode` starts `node <script>`: for a Node process started through another program (strace). */
export function spawnLogged(command: string, args: readonly string[], env: Record<string, string | undefined>, stdout: 'ignore' | 'pipe' = 'ignore'): Spawned {
  const child = spawn(command, args, { env: { PATH: process.env['PATH'], ...env }, stdio: ['ignore', stdout, 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  const listeners = new Set<() => void>();
  let buffer = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    buffer += chunk;
    let newline: number;
    while ((newline = buffer.indexOf('\n')) !== -1) {
      const text = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      try {
        lines.push(JSON.parse(text) as Record<string, unknown>);
      } catch {
        lines.push({ text });
      }
    }
    for (const listener of listeners) listener();
  });
  const stderrEnded = new Promise<void>((done) => child.stderr?.once('close', done) ?? done());
  // 'exit' can come before the last of stderr has been read; a worker still running keeps the
  // pipe open, so the wait for its end is bounded.
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      const result = code ?? signal ?? -1;
      const bound = setTimeout(() => resolve(result), stderrGraceMs);
      void stderrEnded.then(() => {
        clearTimeout(bound);
        resolve(result);
      });
    }),
  );
  const waitFor: Spawned['waitFor'] = (match, count = 1, timeoutMs = waitForMs) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const found = lines.filter(match);
        if (found.length >= count) {
          cleanup();
          resolve(found);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out; log so far:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`));
      }, timeoutMs);
      const onExit = () => {
        cleanup();
        reject(new Error(`process exited; log:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        listeners.delete(check);
        child.off('exit', onExit);
      };
      listeners.add(check);
      child.once('exit', onExit);
      check();
    });
  return { child, lines, waitFor, exited };
}

/**
 * `spawned`, killed if still running once the test of `context` ends: each test its own, as
 * concurrent tests need (a module's one `running`, killed after each test, would be another's).
 */
export function endingWith({ onTestFinished }: Pick<TestContext, 'onTestFinished'>, spawned: Spawned): Spawned {
  onTestFinished(() => {
    if (spawned.child.exitCode === null && spawned.child.signalCode === null) spawned.child.kill('SIGKILL');
  });
  return spawned;
}

/**
 * The answer to a request sent to `port` of `running`, a WORKERS=2 service, whose head is still
 * arriving when SIGTERM comes and ends (with `rest`) once both workers drain: a request in
 * flight at the stop, taken by a draining worker.
 */
export async function answeredWhileDraining(running: Spawned, port: number, head: string, rest: string): Promise<RawResponse> {
  const held = await trickleRequest(port, head);
  try {
    running.child.kill('SIGTERM');
    await running.waitFor((l) => l['msg'] === 'shutting down: draining connections', 2);
  } finally {
    held.finish(rest);
  }
  const answer = await held.response;
  held.socket.destroy();
  return answer;
}
