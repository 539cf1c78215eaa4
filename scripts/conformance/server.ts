import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** A PDP process listening on a free local port; stopAllServers() ends it. */
export interface RunningServer {
  readonly baseUrl: string;
}

const startTimeoutMs = 15_000;

/** Every server started here that has not exited yet, with its exit. */
const running = new Map<ChildProcess, Promise<void>>();

function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  return exited;
}

/** Stops every server started here, listening or still starting. */
export async function stopAllServers(): Promise<void> {
  await Promise.all([...running].map(([child, exited]) => stopChild(child, exited)));
}

/**
 * Starts the built service (`dist/main.js`) over `policyDir` on a port the OS picks, and
 * resolves once its start-up log line names that port. Nothing from the caller's environment
 * but PATH is passed on, so the server runs with the fixture alone.
 */
export function startServer(repoRoot: string, policyDir: string): Promise<RunningServer> {
  const child = spawn(process.execPath, [join(repoRoot, 'dist', 'main.js')], {
    env: { PATH: process.env['PATH'] ?? '', POLICY_DIR: policyDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => {
    running.delete(child);
    resolve();
  }));
  running.set(child, exited);
  return new Promise((resolve, reject) => {
    const seen: string[] = [];
    const timer = setTimeout(() => {
      void stopChild(child, exited);
      reject(new Error(`the server did not start within ${startTimeoutMs} ms:\n${seen.join('\n')}`));
    }, startTimeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (code ${String(code)}) before listening:\n${seen.join('\n')}`));
    });
    createInterface({ input: child.stderr }).on('line', (line) => {
      if (seen.length < 50) seen.push(line);
      let entry: unknown;
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      if (typeof entry === 'object' && entry !== null && 'port' in entry && typeof entry.port === 'number') {
        clearTimeout(timer);
        resolve({ baseUrl: `http://127.0.0.1:${entry.port}` });
      }
    });
  });
}
