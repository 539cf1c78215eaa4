import { spawn, type ChildProcess } from 'node:child_process';

/** A child process the bench started, with the tail of its stderr for error reports. */
export interface Child {
  readonly process: ChildProcess;
  readonly pid: number;
  stderrTail(): string;
  stop(): Promise<number | null>;
}

export interface SpawnOptions {
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly cwd?: string;
  /** Resolves with the port once a line of output announces it. */
  readonly portFrom?: (line: string) => number | undefined;
}

/**
 * Starts a process. With `portFrom`, waits until a line on stdout or stderr names the port;
 * fails when the process exits first or 20 s pass.
 */
export async function start(command: string, args: readonly string[], options: SpawnOptions = {}): Promise<{ child: Child; port: number }> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...process.env, ...options.env })) if (value !== undefined) env[key] = value;
  const proc = spawn(command, args, { env, cwd: options.cwd, stdio: ['ignore', options.portFrom ? 'pipe' : 'ignore', 'pipe'] });
  let tail = '';
  const child: Child = {
    process: proc,
    pid: proc.pid ?? -1,
    stderrTail: () => tail,
    stop: () => stopProcess(proc),
  };
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command} did not announce a port within 20 s:\n${tail}`)), 20_000);
    let found = options.portFrom === undefined;
    if (found) {
      clearTimeout(timer);
      resolve(0);
    }
    const scan = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      tail = (tail + text).slice(-4000);
      if (found || options.portFrom === undefined) return;
      for (const line of text.split('\n')) {
        const port = options.portFrom(line);
        if (port !== undefined) {
          found = true;
          clearTimeout(timer);
          resolve(port);
          return;
        }
      }
    };
    proc.stdout?.on('data', scan);
    proc.stderr?.on('data', scan);
    proc.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (!found) reject(new Error(`${command} exited (${code ?? signal}) before it was ready:\n${tail}`));
    });
  });
  return { child, port };
}

/** SIGTERM, then SIGKILL after 5 s; resolves with the exit code. */
function stopProcess(proc: ChildProcess): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve) => {
    const kill = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    proc.once('exit', (code) => {
      clearTimeout(kill);
      resolve(code);
    });
    proc.kill('SIGTERM');
  });
}

/** Polls `url` until it answers 2xx, for at most `timeoutMs` and while `alive()` holds. */
export async function waitForHttp(url: string, timeoutMs = 20_000, alive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!alive()) throw new Error(`the process behind ${url} exited`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} not ready after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Resident set size of a process in MiB, from /proc. */
export async function rssMiB(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return match === null ? Number.NaN : Number(match[1]) / 1024;
}

/** CPU time (user + system) a process has used so far, in ms; clock ticks of 10 ms on Linux. */
export async function cpuTimeMs(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
