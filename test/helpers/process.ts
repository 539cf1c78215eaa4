import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

export const repoRoot = resolve(import.meta.dirname, '../..');
const cliPath = resolve(repoRoot, 'dist/cli/main.js');
const serverPath = resolve(repoRoot, 'dist/main.js');

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `node script args` to its exit, within `timeoutMs`, and collects its output. A run that
 * ends without an exit code (killed by a signal, or never started) rejects, saying which, and so
 * does one that timed out: execFile's SIGTERM then, which the server takes as a stop and exits 0
 * on, passed for a run that exited 0 by itself.
 */
function runToExit(script: string, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 15_000): Promise<RunResult> {
  return new Promise((done, fail) => {
    const child = execFile(process.execPath, [script, ...args], { cwd: repoRoot, env, timeout: timeoutMs }, (error, stdout, stderr) => {
      const failed = (how: string) => fail(new Error(`node ${[script, ...args].join(' ')}: ${how}; stderr:\n${stderr}`));
      if (child.killed) failed(`timed out after ${timeoutMs / 1000} s`);
      else if (error === null) done({ code: 0, stdout, stderr });
      else if (typeof error.code === 'number') done({ code: error.code, stdout, stderr });
      else failed(error.signal !== null && error.signal !== undefined ? `killed by ${error.signal}` : String(error.code));
    });
  });
}

/**
 * Runs the compiled CLI (`npm run build` first) as a process and collects its output. It gets
 * PATH and `env` alone: a variable of the shell running the tests (a `REDIS_HOST`, a `JWT_SECRET`)
 * would be warned about on its stderr as a setting it does not read, or be read as one.
 */
export function runCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return runToExit(cliPath, args, { PATH: process.env['PATH'], ...env });
}

/**
 * Node's arguments for the conformance runner, `scripts/conformance/main.ts` with its types
 * stripped as `npm run faults` does; it starts its servers from `dist/` (`npm run build` first).
 */
export const conformanceRunner = ['--import', './bench/ts-register.mjs', 'scripts/conformance/main.ts'] as const;

/** Runs `node script args` to its exit (see runToExit) with PATH and `env` alone: a script given by its full path. */
export function runNode(script: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return runToExit(script, args, { PATH: process.env['PATH'], ...env });
}

/**
 * Runs the conformance runner to its exit with PATH and `env` alone, within 50 s: over the
 * shipped vectors it runs some 370 cases against servers of its own, which took past 15 s beside
 * the rest of the suite on a busy machine.
 */
export function runConformance(env: NodeJS.ProcessEnv): Promise<RunResult> {
  const [script, ...args] = conformanceRunner;
  return runToExit(script, args, { PATH: process.env['PATH'], ...env }, 50_000);
}

/** A server process started by `startServer`. */
export interface ServerProcess {
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts the compiled server (`dist/main.js`) on a free port and resolves once it logs that it
 * listens. Rejects with the process's output when it exits first.
 */
export function startServer(env: NodeJS.ProcessEnv): Promise<ServerProcess> {
  const child = spawn(process.execPath, [serverPath], {
    cwd: repoRoot,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  return new Promise((ready, fail) => {
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      output += chunk;
      const port = /"port":(\d+)/.exec(output)?.[1];
      if (port !== undefined && output.includes('invoice-pdp listening')) {
        ready({
          url: `http://127.0.0.1:${port}`,
          child,
          stop: () => new Promise((stopped) => {
            child.once('exit', () => stopped());
            child.kill('SIGTERM');
          }),
        });
      }
    });
    child.once('exit', (code) => fail(new Error(`server exited with ${String(code)} before listening:\n${output}`)));
  });
}

/**
 * Runs the compiled server with PATH and `env` alone (so a setting exported in the test's shell
 * does not change its start) and waits for it to exit, for start-up failures.
 */
export function runServerToExit(env: Readonly<Record<string, string>>): Promise<RunResult> {
  return runToExit(serverPath, [], { PATH: process.env['PATH'], PORT: '0', HOST: '127.0.0.1', ...env });
}
