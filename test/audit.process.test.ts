import { execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { describe, expect, it, type TestContext } from 'vitest';
import { eventually } from './helpers/cache.js';
import { endingWith, spawnNode } from './helpers/spawned.js';
import { sample } from './helpers/telemetry.js';
import { tempDir } from './helpers/tmp.js';

const main = resolve(import.meta.dirname, '../dist/main.js');
const base = { PATH: process.env['PATH'] ?? '', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', POLICY_DIR: resolve(import.meta.dirname, '../policies') };

/** How the test reads the service's stdout (its audit log). */
type Reader = 'slow' | 'stuck';

interface Service {
  readonly child: ChildProcess;
  readonly port: number;
  readonly log: Record<string, unknown>[];
  /** Everything read from stdout once it closed. */
  readonly stdout: Promise<string>;
  /** The exit code (or signal) and when the process exited, once its log is read to the end (see `Spawned.exited`). */
  readonly exited: Promise<{ code: number | string; at: number }>;
}

/** Reads `stream`, paused, 8 KiB every 2 ms: a collector that lags behind a burst. */
function readSlowly(stream: Readable): void {
  // Each read is also a 'data' event, which keeps it.
  const timer = setInterval(() => void (stream.read(8192) ?? stream.read()), 2);
  stream.once('close', () => clearInterval(timer));
}

/**
 * Starts the built service, for the test of `context` (killed once it ends), with stdout a pipe
 * read 'slow' (8 KiB every 2 ms, a collector that lags behind a burst) or 'stuck' (not read at
 * all until the test lets it go or the process exits).
 */
async function startService(context: TestContext, env: Record<string, string>, reader: Reader): Promise<Service> {
  // Only what is set here: an audit file or a Redis from the test run's environment would change what is measured.
  const spawned = endingWith(context, spawnNode(main, { ...base, AUDIT_LOG_FILE: undefined, REDIS_URL: undefined, ...env }, 'pipe'));
  const { child } = spawned;
  // 'exit' can come before the last log lines are read: the warnings written just before it
  // (lines given up at exit) were at times missing from the log a test then read.
  const exitedAt = new Promise<number>((done) => child.once('exit', () => done(performance.now())));
  const exited = Promise.all([spawned.exited, exitedAt]).then(([code, at]) => ({ code, at }));
  const chunks: Buffer[] = [];
  const stdout = new Promise<string>((done) => child.stdout?.once('close', () => done(Buffer.concat(chunks).toString('utf8'))));
  const out = child.stdout;
  if (out === null) throw new Error('no stdout');
  out.on('data', (data: Buffer) => void chunks.push(data));
  out.pause();
  if (reader === 'slow') readSlowly(out);
  const listening = await spawned.waitFor((l) => l['msg'] === 'invoice-pdp listening', Number(env['WORKERS'] ?? '1'));
  return { child, port: Number(listening[0]?.['port']), log: spawned.lines, stdout, exited };
}

/**
 * `count` decisions with a context of `padding` characters, `concurrency` at a time; their
 * decision ids. The padding is split into strings of at most 16,384 characters, a body's limit.
 */
async function decide(port: number, count: number, padding: number, concurrency: number): Promise<string[]> {
  const context = Object.fromEntries(Array.from({ length: Math.ceil(padding / 16_000) }, (_, i) => [`pad${i}`, 'x'.repeat(Math.min(16_000, padding - i * 16_000))]));
  const body = JSON.stringify({
    subject: { id: 'u-acc', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } },
    action: 'read',
    resource: { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'EU' } },
    context,
  });
  const ids: string[] = [];
  let next = 0;
  const asker = async () => {
    while (next < count) {
      next += 1;
      const res = await fetch(`http://127.0.0.1:${port}/decide`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(res.status).toBe(200);
      ids.push(((await res.json()) as { decisionId: string }).decisionId);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, asker));
  return ids;
}

/**
 * Decisions, their padding and how many at a time for a burst: ~15 KB lines from two workers, 16
 * requests at a time, 6 MB in all, far more than a pipe and the primary (1 MiB) hold. Lines this
 * long break more often where they can break (workers sharing stdout, a relay not cut at whole
 * lines) than 1,500 lines of ~3 KB did, for a quarter of the requests.
 */
const burst = [400, 15_000, 16] as const;

describe('audit lines on stdout with WORKERS', () => {
  // Named, stdout is the socket Node made it: the primary writes to it alone, as to stdout.
  it.for<[string, Record<string, string>]>([
    ['AUDIT_LOG_FILE unset', {}],
    ['AUDIT_LOG_FILE=/dev/stdout', { AUDIT_LOG_FILE: '/dev/stdout' }],
  ])('arrive whole, one for every decision, though the collector lags and the workers write at once: %s', { timeout: 90_000 }, async ([, audit], context) => {
    const service = await startService(context, { WORKERS: '2', SHUTDOWN_TIMEOUT_MS: '30000', ...audit }, 'slow');
    const ids = await decide(service.port, ...burst);
    const signalled = performance.now();
    service.child.kill('SIGTERM');
    const { code, at } = await service.exited;
    expect(code).toBe(0);
    // Once the lines are written: not at SHUTDOWN_TIMEOUT_MS.
    expect(at - signalled).toBeLessThan(15_000);
    expectWholeLines(await service.stdout, ids);
  });
});

/** How many lines the warnings `message` in `log` say were lost. */
function linesLost(log: readonly Record<string, unknown>[], message: string): number {
  return log.filter((l) => l['msg'] === message).reduce((sum, l) => sum + Number(l['lines']), 0);
}

/** How many whole lines `text` holds: a line the writer stopped in is not one. */
function wholeLines(text: string): number {
  return text.split('\n').length - 1;
}

/** `text` is whole JSON lines, one for each decision of `ids`. */
function expectWholeLines(text: string, ids: readonly string[]): void {
  const lines = text.split('\n');
  expect(lines.pop()).toBe('');
  const invalid = lines.filter((line) => {
    try {
      JSON.parse(line);
      return false;
    } catch {
      return true;
    }
  });
  expect(invalid).toEqual([]);
  const logged = lines.map((line) => (JSON.parse(line) as { decisionId: string }).decisionId);
  expect(logged.length).toBe(ids.length);
  expect(new Set(logged)).toEqual(new Set(ids));
}

/** 300 lines of 10 KB: far more than the pipe holds. */
const fill = (service: Service) => decide(service.port, 300, 10_000, 8);

// The stuck-collector tests that bound no time: side by side with the other tests that only
// wait, the longest (the primary's 7 s give-up) first.
describe.concurrent('a collector that stops reading never holds the exit', () => {
  it('under WORKERS, warns of the lines the primary gives up at exit, the collector stuck throughout', async (context) => {
    // The workers give up after their 5 s wait and exit; the primary's wait ends at 6 + 1 s.
    const service = await startService(context, { WORKERS: '2', SHUTDOWN_TIMEOUT_MS: '6000' }, 'stuck');
    const ids = await fill(service);
    service.child.kill('SIGTERM');
    await service.exited;
    const givenUp = linesLost(service.log, 'audit lines lost: not written to stdout');
    expect(givenUp).toBeGreaterThan(0);
    // Each line is either on stdout, whole, or counted once: by the worker that could not hand it over, or by the primary.
    service.child.stdout?.resume();
    expect(wholeLines(await service.stdout) + givenUp + linesLost(service.log, 'audit line not written')).toBe(ids.length);
  }, 60_000);

  it('warns of the lines it gives up at exit though it warned of lost lines within the minute', async (context) => {
    const service = await startService(context, {}, 'stuck');
    // 200 lines of 100 KB: past the 16 MiB held unwritten, so lines are dropped, and warned of, first.
    await decide(service.port, 200, 100_000, 8);
    await eventually('the drop to be warned of', () => service.log.some((l) => l['msg'] === 'audit line not written'));
    service.child.kill('SIGTERM');
    const { code } = await service.exited;
    expect(code).toBe(0);
    const stopping = service.log.findIndex((l) => l['msg'] === 'shutting down: draining connections');
    const atExit = service.log.slice(stopping).filter((l) => l['msg'] === 'audit line not written');
    expect(atExit.reduce((sum, l) => sum + Number(l['lines']), 0)).toBeGreaterThan(100);
  }, 30_000);

  it('under WORKERS, holds about 1 MiB in the primary: the workers keep the rest, each within its own bound', async (context) => {
    const service = await startService(context, { WORKERS: '2' }, 'stuck');
    const primaryRss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${String(service.child.pid)}/status`, 'utf8'))?.[1]) * 1024;
    const before = primaryRss();
    // 90 lines of 1 MB, about half from each worker: more than the primary's 1 MiB, the pipes and
    // both workers' 16 MiB together.
    await decide(service.port, 90, 1_000_000, 4);
    await eventually('the workers to drop lines', () => service.log.some((l) => l['msg'] === 'audit line not written'), 15_000);
    // What the workers hold, handed over within a second to a primary that would take it.
    await new Promise((resolveWait) => setTimeout(resolveWait, 2000));
    // Reading on regardless, the primary grew by 64-84 MiB here; pausing at 1 MiB, by about 4.
    expect(primaryRss() - before).toBeLessThan(40 * 1024 * 1024);
    expect(service.log.filter((l) => typeof l['msg'] === 'string' && l['msg'].startsWith('audit lines lost'))).toEqual([]);
    service.child.stdout?.destroy();
    service.child.kill('SIGKILL');
  }, 60_000);
});

describe.concurrent('AUDIT_LOG_FILE naming stdout or stderr, a socket (systemd\'s journald, a Node parent)', () => {
  // open() refuses a socket (ENXIO): every line was lost. Node makes its child's stdio socket pairs.
  for (const workers of ['1', '2']) {
    it(`writes every line to stdout, WORKERS=${workers}`, async (context) => {
      const service = await startService(context, { WORKERS: workers, AUDIT_LOG_FILE: '/dev/stdout' }, 'slow');
      const ids = await decide(service.port, 20, 10, 4);
      service.child.kill('SIGTERM');
      expect((await service.exited).code).toBe(0);
      expect(service.log.filter((l) => l['msg'] === 'audit line not written')).toEqual([]);
      expectWholeLines(await service.stdout, ids);
    }, 30_000);
  }

  it.for<string>(['/dev/stderr', '/dev/fd/2', '/proc/self/fd/2'])('writes every line to the descriptor %s names, and none to stdout', { timeout: 30_000 }, async (name, context) => {
    const service = await startService(context, { AUDIT_LOG_FILE: name }, 'slow');
    const ids = await decide(service.port, 3, 10, 1);
    service.child.kill('SIGTERM');
    expect((await service.exited).code).toBe(0);
    // stderr's lines, parsed: the application log's and the audit log's.
    expect(new Set(service.log.filter((l) => l['log'] === 'audit').map((l) => l['decisionId']))).toEqual(new Set(ids));
    expect(await service.stdout).toBe('');
  });
});

describe.concurrent('audit lines to a FIFO named by AUDIT_LOG_FILE, with WORKERS', () => {
  it('arrive whole, one for every decision, though the reader lags and the workers write at once', async (context) => {
    const fifo = join(await tempDir(), 'audit.fifo');
    execFileSync('mkfifo', [fifo]);
    // Opened for reading and writing: the FIFO has a reader before the service opens it, and
    // reaches no end of file when the service closes it.
    const reader = new Socket({ fd: openSync(fifo, constants.O_RDWR), readable: true, writable: false });
    const chunks: Buffer[] = [];
    reader.on('data', (data: Buffer) => void chunks.push(data));
    reader.pause();
    readSlowly(reader);
    try {
      const spawned = endingWith(context, spawnNode(main, { ...base, WORKERS: '2', AUDIT_LOG_FILE: fifo }));
      const listening = await spawned.waitFor((l) => l['msg'] === 'invoice-pdp listening', 2);
      const ids = await decide(Number(listening[0]?.['port']), ...burst);
      spawned.child.kill('SIGTERM');
      expect(await spawned.exited).toBe(0);
      const newlines = () => chunks.reduce((sum, chunk) => sum + chunk.filter((byte) => byte === 0x0a).length, 0);
      await eventually('every line to be read', () => newlines() >= ids.length);
      expectWholeLines(Buffer.concat(chunks).toString('utf8'), ids);
    } finally {
      reader.destroy();
    }
  }, 90_000);
});

describe.concurrent('audit lines the primary took and lost, with WORKERS', () => {
  it('are counted in the pdp_audit_errors_total of the workers they came from', async (context) => {
    const fifo = join(await tempDir(), 'audit.fifo');
    execFileSync('mkfifo', [fifo]);
    // A reader that never reads: the FIFO takes what it holds, the primary keeps the rest.
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const spawned = endingWith(context, spawnNode(main, { ...base, WORKERS: '2', AUDIT_LOG_FILE: fifo }));
    let port = 0;
    try {
      const listening = await spawned.waitFor((l) => l['msg'] === 'invoice-pdp listening', 2);
      port = Number(listening[0]?.['port']);
      // 600 KB of lines: more than the FIFO holds, less than the primary holds before it stops reading.
      await decide(port, 60, 10_000, 4);
      // Every line handed to the primary: a worker writes what it holds within a second.
      await new Promise((resolveWait) => setTimeout(resolveWait, 1500));
    } finally {
      closeSync(reader);
    }
    const [warning] = await spawned.waitFor((l) => l['msg'] === 'audit lines lost: not written to AUDIT_LOG_FILE', 1, 10_000);
    const lost = Number(warning?.['lines']);
    expect(lost).toBeGreaterThan(0);
    // The primary tells each worker of its lines; a worker whose own write failed counts those too.
    const counted = async () => {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { connection: 'close' } });
      return sample(await res.text(), 'pdp_audit_errors_total') ?? 0;
    };
    await eventually('the workers to count the lost lines', async () => (await counted()) >= lost);
  }, 60_000);
});

describe('a collector that stops reading never holds the exit', () => {
  it('exits within SHUTDOWN_TIMEOUT_MS + 1 s while stdout is full, and at once when its reader then goes', async (context) => {
    const service = await startService(context, { SHUTDOWN_TIMEOUT_MS: '2000' }, 'stuck');
    await fill(service);
    const signalled = performance.now();
    service.child.kill('SIGTERM');
    // The reader goes while the close waits for it (before, the process then retried the write forever).
    await new Promise((resolveWait) => setTimeout(resolveWait, 1000));
    service.child.stdout?.destroy();
    const { at } = await service.exited;
    expect(at - signalled).toBeLessThan(2000 + 1000 + 1500);
  }, 30_000);

  it('gives up the audit lines after 5 s, counts each one that did not arrive whole, and exits 0, the collector stuck throughout', async (context) => {
    const service = await startService(context, {}, 'stuck');
    const ids = await fill(service);
    const signalled = performance.now();
    service.child.kill('SIGTERM');
    const { code, at } = await service.exited;
    expect(code).toBe(0);
    expect(at - signalled).toBeGreaterThan(4500);
    expect(at - signalled).toBeLessThan(5000 + 2500);
    const lost = linesLost(service.log, 'audit line not written');
    expect(lost).toBeGreaterThan(250);
    // What reached the pipe before the close gave up: its whole lines are not counted as lost.
    service.child.stdout?.resume();
    expect(wholeLines(await service.stdout) + lost).toBe(ids.length);
  }, 30_000);

  it('under WORKERS, exits within SHUTDOWN_TIMEOUT_MS + 1 s while stdout is full', async (context) => {
    const service = await startService(context, { WORKERS: '2', SHUTDOWN_TIMEOUT_MS: '2000' }, 'stuck');
    await fill(service);
    const signalled = performance.now();
    service.child.kill('SIGTERM');
    const { at } = await service.exited;
    expect(at - signalled).toBeLessThan(2000 + 1000 + 1500);
  }, 60_000);

  it('under WORKERS, exits at once when stdout\'s reader goes, and counts what it lost', async (context) => {
    const service = await startService(context, { WORKERS: '2' }, 'stuck');
    const ids = await fill(service);
    // The primary held still while the test reads what reached stdout and then lets it go: every
    // line the primary wrote is read, and none is written in the moment between.
    const primary = Number(service.child.pid);
    process.kill(primary, 'SIGSTOP');
    service.child.stdout?.resume();
    await new Promise((resolveWait) => setTimeout(resolveWait, 500));
    service.child.stdout?.destroy();
    process.kill(primary, 'SIGCONT');
    await new Promise((resolveWait) => setTimeout(resolveWait, 500));
    const signalled = performance.now();
    service.child.kill('SIGTERM');
    const { code, at } = await service.exited;
    expect(code).toBe(0);
    expect(at - signalled).toBeLessThan(2500);
    // The primary lost what it held, and reads on to the end of each worker's pipe: each worker counts those of its lines the primary lost.
    expect(service.log.some((l) => l['msg'] === 'audit lines lost: not written to stdout')).toBe(true);
    expect(service.log.filter((l) => l['msg'] === 'audit line not written').length).toBeGreaterThan(0);
    // Each line is either on stdout, whole, or counted once: by the worker it came from (told
    // by the primary, or its own write refused), or by the primary alone.
    const byPrimaryAlone = service.log.filter((l) => l['msg'] === 'audit lines lost: not written to stdout').reduce((sum, l) => sum + Number(l['lines']) - Number(l['countedByWorkers']), 0);
    expect(wholeLines(await service.stdout) + linesLost(service.log, 'audit line not written') + byPrimaryAlone).toBe(ids.length);
  }, 60_000);
});
