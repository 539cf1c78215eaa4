import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

const cliJs = resolve(import.meta.dirname, '../../dist/cli/main.js');

/** What one CLI run printed and how it exited. */
export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `pdp ARGS` (the built CLI) as its own process, optionally feeding stdin; `node` takes Node's
 * own options (`--max-old-space-size=64`), `env` settings beside PATH and NO_COLOR.
 */
export function runCli(args: readonly string[], options: { input?: string; cwd?: string; node?: readonly string[]; env?: Readonly<Record<string, string>> } = {}): Promise<CliRun> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [...(options.node ?? []), cliJs, ...args], {
      cwd: options.cwd,
      env: { PATH: process.env['PATH'], NO_COLOR: '1', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('error', fail);
    child.once('close', (code) => done({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}
