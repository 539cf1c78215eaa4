import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';

/** Sends one inline command and resolves with its reply: a bulk string's text, else its first line. */
function ask(port: number, command: string, timeoutMs = 500): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    let reply = '';
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('timeout')));
    socket.once('error', reject);
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      const end = reply.indexOf('\r\n');
      if (end < 0) return;
      const bulk = /^\$(\d+)$/.exec(reply.slice(0, end));
      if (bulk !== null && reply.length < end + 2 + Number(bulk[1])) return;
      socket.end();
      resolve(bulk === null ? reply.slice(0, end) : reply.slice(end + 2, end + 2 + Number(bulk[1])));
    });
    socket.write(`${command}\r\n`);
  });
}

/** A server process's port was taken (by a client connection's port too) before it could listen. */
export class PortTakenError extends Error {}

/**
 * Waits until the child answers on `port`. Another process may have taken the port between
 * `freePort` and the child's start: the child then exits, and the one that answers is not it.
 */
async function waitForPong(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) {
      const text = output();
      throw new (/Address already in use/.test(text) ? PortTakenError : Error)(`redis-server exited with ${child.exitCode}: ${text}`);
    }
    try {
      const reply = await ask(port, 'PING');
      if (reply.startsWith('-NOAUTH')) return;
      if (reply === '+PONG') {
        const pid = /^process_id:(\d+)/m.exec(await ask(port, 'INFO server'))?.[1];
        if (pid !== String(child.pid)) throw new PortTakenError(`port ${port} is another process's (pid ${pid ?? '?'})`);
        return;
      }
    } catch (error) {
      if (error instanceof PortTakenError) throw error;
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING: ${output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const installHint = 'redis-server was not found on PATH: install it (apt-get install redis-server) or set REDIS_URL to a Redis the tests may use';

/** A redis-server process of our own, on a port of its own, in a temporary directory. */
export class RedisServer {
  #child: ChildProcess | undefined;
  #output = '';

  private constructor(
    readonly port: number,
    readonly dir: string,
    readonly extraArgs: readonly string[],
    readonly sentinel: boolean,
  ) {}

  /** Starts redis-server (or a sentinel, with `sentinel: true` and `config` lines) on a free port. */
  static async start(options: { extraArgs?: readonly string[]; config?: readonly string[]; sentinel?: boolean } = {}): Promise<RedisServer> {
    const dir = await mkdtemp(join(tmpdir(), 'pdp-redis-'));
    if (options.config !== undefined) await writeFile(join(dir, 'redis.conf'), `${options.config.join('\n')}\n`);
    for (let attempt = 1; ; attempt++) {
      const server = new RedisServer(await freePort(), dir, options.extraArgs ?? [], options.sentinel === true);
      try {
        await server.restart();
        return server;
      } catch (error) {
        if (error instanceof PortTakenError && attempt < 5) continue;
        await rm(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts the process again on the same port (after `kill`). */
  async restart(): Promise<void> {
    const args = [
      ...(this.sentinel ? [join(this.dir, 'redis.conf'), '--sentinel'] : []),
      '--port', String(this.port),
      '--bind', '127.0.0.1',
      '--dir', this.dir,
      ...(this.sentinel ? [] : ['--save', '', '--appendonly', 'no']),
      '--loglevel', 'warning',
      ...this.extraArgs,
    ];
    this.#output = '';
    const child = spawn('redis-server', args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const spawned = new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (error: NodeJS.ErrnoException) => reject(error.code === 'ENOENT' ? new Error(installHint) : error));
    });
    child.stdout?.on('data', (chunk: Buffer) => (this.#output += chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => (this.#output += chunk.toString('utf8')));
    this.#child = child;
    try {
      await spawned;
      await waitForPong(this.port, child, () => this.#output);
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
  }

  /** Sends a signal (SIGKILL by default) and, unless it only pauses the process, waits for it to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') {
      child.kill(signal);
      return;
    }
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }

  /** Stops the process for good and removes its directory. */
  async stop(): Promise<void> {
    await this.kill('SIGCONT');
    await this.kill('SIGTERM');
    await rm(this.dir, { recursive: true, force: true });
  }
}
