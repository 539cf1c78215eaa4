import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

/** The compiled service, as `npm start` runs it (`npm test` builds it first). */
export const mainScript = resolve(import.meta.dirname, '../../dist/main.js');

/** How the process ended, and when (performance.now() of this process). */
export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly at: number;
}

/** A running `node dist/main.js`. */
export interface ServerProcess {
  readonly child: ChildProcess;
  /** Resolves with the port once the service logs that it listens; rejects if it exits first. */
  readonly listening: Promise<number>;
  readonly exited: Promise<Exit>;
  /** What it wrote to stderr (its log) so far, the last megabyte of it. */
  output(): string;
}

/**
 * Starts the real service on a free loopback port with `env` over a quiet default
 * environment (no fixed port, logs at info). Stop it with `child.kill()`. `args`, what node runs,
 * is the service unless a test stands something else in for it that logs as it does.
 */
export function spawnServer(env: Readonly<Record<string, string>> = {}, args: readonly string[] = [mainScript]): ServerProcess {
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env['PATH'] ?? '', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const exited = new Promise<Exit>((done) => {
    child.once('exit', (code, signal) => done({ code, signal, at: performance.now() }));
  });
  const listening = new Promise<number>((ready, fail) => {
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      // Keep the last megabyte: a long run must not grow without bound.
      log = (log + chunk).slice(-1024 * 1024);
      const match = /"port":(\d+)[^\n]*"msg":"invoice-pdp listening"/.exec(log);
      if (match?.[1] !== undefined) ready(Number(match[1]));
    });
    void exited.then((exit) => fail(new Error(`server exited (code ${exit.code}, signal ${exit.signal}) before listening:\n${log}`)));
  });
  // A caller that only awaits `exited` (a server expected not to start) must not see this as unhandled.
  listening.catch(() => undefined);
  return { child, listening, exited, output: () => log };
}
