import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';

const mainJs = resolve(import.meta.dirname, '../../dist/main.js');

/** One JSON log line of the server. */
export type LogLine = Readonly<Record<string, unknown>>;

/** `node dist/main.js` running on a free port, with its log lines collected. */
export interface ServerProcess {
  readonly url: string;
  readonly process: ChildProcess;
  readonly logs: LogLine[];
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  stop(): Promise<void>;
}

function childEnv(env: Readonly<Record<string, string>>): NodeJS.ProcessEnv {
  return { PATH: process.env['PATH'], HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env };
}

/** Starts the built server and resolves once it listens; rejects if it exits first. */
export async function startServer(env: Readonly<Record<string, string>>): Promise<ServerProcess> {
  const child = spawn(process.execPath, [mainJs], { env: childEnv(env), stdio: ['ignore', 'ignore', 'pipe'] });
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  const stderr: string[] = [];
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  if (child.stderr === null) throw new Error('no stderr');
  createInterface({ input: child.stderr }).on('line', (line) => {
    stderr.push(line);
    try {
      logs.push(JSON.parse(line) as LogLine);
    } catch {
      return;
    }
    for (const wake of waiters) wake();
  });

  const waitForLog = (match: (line: LogLine) => boolean, timeoutMs = 10_000) =>
    new Promise<LogLine>((done, fail) => {
      const check = () => {
        const found = logs.find(match);
        if (found === undefined) return false;
        waiters.delete(check);
        clearTimeout(timer);
        done(found);
        return true;
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        fail(new Error(`no matching log line within ${timeoutMs} ms; stderr:\n${stderr.join('\n')}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });

  const listening = await Promise.race([
    waitForLog((l) => l['msg'] === 'invoice-pdp listening'),
    exited.then((code) => {
      throw new Error(`server exited with ${code}:\n${stderr.join('\n')}`);
    }),
  ]);
  return {
    url: `http://127.0.0.1:${String(listening['port'])}`,
    process: child,
    logs,
    waitForLog,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
