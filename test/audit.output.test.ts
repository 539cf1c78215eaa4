import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../src/telemetry/audit.js';
import { auditDestination, maxLength } from '../src/telemetry/audit-destination.js';
import { PdpMetrics } from '../src/telemetry/metrics.js';
import { auditErrorReporter, telemetryRecorder } from '../src/telemetry/recorder.js';
import { buildTestApp, postJson } from './helpers/app.js';
import { eventually } from './helpers/cache.js';
import { auditSettled, sample } from './helpers/telemetry.js';

const dist = resolve(import.meta.dirname, '../dist/telemetry');
const accountant = { roles: ['accountant'], scope: 'invoice.read', region: 'EU' };
const invoice = { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'EU' } };

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pdp-audit-output-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The lines of a file, parsed. */
async function fileLines(file: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(file, 'utf8');
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('the 16 MiB bound applies line by line', () => {
  it('drops only the lines beyond it, not the whole batch, and keeps a later line that fits', async () => {
    const file = join(dir, 'bound.log');
    const lost: [error: unknown, lines: number][] = [];
    const sink = auditDestination(file, (error, lines) => void lost.push([error, lines]));
    const big = (n: number) => `${JSON.stringify({ n, pad: 'x'.repeat(177_000) })}\n`;
    // One turn: a batch of 100 lines of 177 KB (17.7 MB, as one batch request with a large
    // context makes), then another request's small line. Nothing is written before the turn ends.
    sink.write(Array.from({ length: 100 }, (_, n) => big(n)).join(''));
    sink.write(`${JSON.stringify({ n: 'small' })}\n`);
    await sink.end?.();
    const lines = await fileLines(file);
    const fit = Math.floor(maxLength / Buffer.byteLength(big(10)));
    expect(lines.map((l) => l['n'])).toEqual([...Array.from({ length: fit }, (_, n) => n), 'small']);
    expect(lost.map(([error, n]) => [String(error), n])).toEqual([[expect.stringContaining('lines dropped'), 100 - fit]]);
  });

  it('keeps the audit trail of a batch request with a large context, and the other requests\' lines', async () => {
    const file = join(dir, 'batch.log');
    const metrics = new PdpMetrics();
    const onError = auditErrorReporter({ metrics, warn: () => undefined });
    const audit = new AuditLog({ sink: auditDestination(file, (error, lines) => onError(error, undefined, lines)), onError });
    const { app } = await buildTestApp({ recorder: telemetryRecorder(metrics, audit), app: { metrics } });
    // 11 keys of 16,000 characters and 100 items: each line repeats the context (~177 KB).
    const context = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, String.fromCharCode(97 + i).repeat(16_000)]));
    const answers = await Promise.all([
      postJson(app, '/access/v1/evaluations', {
        subject: { type: 'user', id: 'u-acc', properties: accountant },
        action: { name: 'read' },
        resource: invoice,
        context,
        evaluations: Array.from({ length: 100 }, () => ({})),
      }),
      ...['d-1', 'd-2', 'd-3'].map((id) => postJson(app, '/decide', { subject: { id, properties: accountant }, action: 'read', resource: invoice })),
    ]);
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    await auditSettled();
    await audit.close();
    const lines = await fileLines(file);
    const batch = lines.filter((l) => l['endpoint'] === 'authzen_evaluations');
    const dropped = sample(await metrics.registry.metrics(), 'pdp_audit_errors_total') ?? 0;
    // All but the few beyond 16 MiB (HEAD wrote none of them and counted 100).
    expect(batch.length).toBeGreaterThan(90);
    expect(batch.length + dropped).toBe(100);
    expect(lines.filter((l) => l['endpoint'] === 'decide').map((l) => (l['subject'] as { id: string }).id).sort()).toEqual(['d-1', 'd-2', 'd-3']);
  });
});

describe('pdp_audit_errors_total counts lost lines', () => {
  it('counts the lines a failed open loses, and nothing for the failure itself', async () => {
    const lost: [error: unknown, lines: number][] = [];
    const sink = auditDestination(join(dir, 'no-such-dir', 'audit.log'), (error, lines) => void lost.push([error, lines]));
    // Before the open has failed: held, then lost with it.
    sink.write('{"n":1}\n{"n":2}\n');
    sink.write('{"n":3}\n');
    await sink.end?.();
    expect(lost.map(([error, n]) => [String(error), n])).toEqual([[expect.stringMatching(/ENOENT/), 3]]);
  });

  it('counts each line still held in the buffer when the open failed, once it is handed over', async () => {
    const lost: [error: unknown, lines: number][] = [];
    const sink = auditDestination(join(dir, 'no-such-dir', 'audit.log'), (error, lines) => void lost.push([error, lines]));
    // Far under a chunk: held for the flush, which comes after the open has failed.
    sink.write('{"n":1}\n{"n":2}\n');
    sink.write('{"n":3}\n');
    await eventually('the open to fail', () => lost.length > 0);
    await sink.end?.();
    expect(lost.map(([error, n]) => [String(error), n])).toEqual([[expect.stringMatching(/ENOENT/), 0], [expect.stringMatching(/ENOENT/), 3]]);
  });

  it('tells of a failed open that lost no line with a count of 0, which the reporter warns of without counting', async () => {
    const metrics = new PdpMetrics();
    const warnings: Record<string, unknown>[] = [];
    const onError = auditErrorReporter({ metrics, warn: (fields) => void warnings.push(fields) });
    const sink = auditDestination(join(dir, 'no-such-dir', 'audit.log'), (error, lines) => onError(error, undefined, lines));
    await sink.end?.();
    expect(warnings).toEqual([expect.objectContaining({ lines: 0 })]);
    expect(sample(await metrics.registry.metrics(), 'pdp_audit_errors_total')).toBe(0);
  });
});

describe('AUDIT_LOG_FILE', () => {
  /** A line over a chunk: handed over, and written, at once. */
  const large = (n: number) => `${JSON.stringify({ n, pad: 'x'.repeat(40_000) })}\n`;

  it('is appended to: keeps what the file held, and writes from the start of a file emptied by copytruncate', async () => {
    const file = join(dir, 'rotated.log');
    const before = '{"n":"before"}\n';
    await writeFile(file, before);
    const errors: unknown[] = [];
    const sink = auditDestination(file, (error) => void errors.push(error));
    sink.write(large(1));
    await eventually('the first line to be written', async () => (await readFile(file, 'utf8')).length >= before.length + large(1).length);
    expect(await readFile(file, 'utf8')).toBe(before + large(1));
    // logrotate's copytruncate: the file copied, then emptied while the service holds it open.
    await truncate(file, 0);
    sink.write(large(2));
    await sink.end?.();
    expect(await readFile(file, 'utf8')).toBe(large(2));
    expect(errors).toEqual([]);
  });

  it('writes each chunk as it was handed over, though more lines come while it is being written', async () => {
    const file = join(dir, 'chunks.log');
    const sink = auditDestination(file, () => undefined);
    // Each write fills a chunk, handed over at once; the next ones come before it is written.
    const writes = Array.from({ length: 4 }, (_, w) => Array.from({ length: 200 }, (_, i) => `${JSON.stringify({ w, i, pad: String(w).repeat(160) })}\n`).join(''));
    for (const lines of writes) sink.write(lines);
    await sink.end?.();
    expect(await readFile(file, 'utf8')).toBe(writes.join(''));
  });

  it('gets the lines of a quiet process out within a second, without a close', async () => {
    const file = join(dir, 'quiet.log');
    const sink = auditDestination(file, () => undefined);
    // Far under a chunk: written by the flush that follows within a second.
    sink.write('{"n":1}\n');
    await eventually('the line to be written', async () => (await readFile(file, 'utf8').catch(() => '')) === '{"n":1}\n', 10_000);
    await sink.end?.();
  });

  it('counts each line of a write the file refused (a full disk), and writes the next', async () => {
    const lost: [code: unknown, lines: number][] = [];
    const sink = auditDestination('/dev/full', (error, lines) => void lost.push([(error as { code?: unknown }).code, lines]));
    sink.write(large(1) + large(2));
    await eventually('the write to fail', () => lost.length > 0);
    // Not stopped: the next lines are taken, written and lost in turn.
    sink.write('{"n":3}\n{"n":4}\n{"n":5}\n');
    await sink.end?.();
    expect(lost).toEqual([['ENOSPC', 2], ['ENOSPC', 3]]);
  });

  it('refuses a FIFO without a reader at once (ENXIO), counting the lines it held, instead of waiting for one', async () => {
    const fifo = join(dir, 'unread.pipe');
    execFileSync('mkfifo', [fifo]);
    const lost: [error: string, lines: number][] = [];
    const sink = auditDestination(fifo, (error, lines) => void lost.push([String(error), lines]));
    try {
      sink.write('{"n":1}\n{"n":2}\n');
      await sink.end?.();
      expect(lost).toEqual([[expect.stringContaining('ENXIO'), 2]]);
    } finally {
      // A reader, for an open that waits for one: that would hold a thread, and the test run's exit.
      closeSync(openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK));
    }
  });

  it('counts the lines of the write that failed when the FIFO\'s reader went', async () => {
    const fifo = join(dir, 'gone.pipe');
    execFileSync('mkfifo', [fifo]);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const lost: [error: string, lines: number][] = [];
    const sink = auditDestination(fifo, (error, lines) => void lost.push([String(error), lines]));
    // Read whole: the destination has the FIFO open, and nothing of it unwritten.
    sink.write(large(1));
    const got: Buffer[] = [];
    const buffer = Buffer.alloc(64 * 1024);
    await eventually('the first line to be read', () => {
      try {
        const n = readSync(reader, buffer);
        got.push(Buffer.from(buffer.subarray(0, n)));
      } catch (error) {
        if ((error as { code?: unknown }).code !== 'EAGAIN') throw error;
      }
      return Buffer.concat(got).toString('utf8') === large(1);
    });
    closeSync(reader);
    sink.write('{"n":2}\n{"n":3}\n{"n":4}\n');
    await sink.end?.();
    expect(lost).toEqual([[expect.stringContaining('EPIPE'), 3]]);
  });
});

interface ChildRun {
  readonly code: number | null;
  /**
   * From the script's "ready" on stderr to its exit: what the exit waited on, without the start
   * of a Node process, which took up to 1.3 s on a machine at a load of 16.
   */
  readonly tookMs: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a script using the built destination with its stdout a pipe that `reader` handles: 'stuck'
 * (never read until the script exits, as behind a stuck collector), 'closed' (the reader goes once
 * the script says "ready" on stderr) or 'open' (read as it comes). `maxFileBlocks`: the largest
 * file it may write, in 512-byte blocks (`ulimit -f`), a write beyond cut short as by a full disk.
 */
async function runChild(name: string, body: string, reader: 'stuck' | 'closed' | 'open', maxFileBlocks?: number): Promise<ChildRun> {
  const script = join(dir, `${name}.mjs`);
  await writeFile(script, `import { auditDestination } from ${JSON.stringify(join(dist, 'audit-destination.js'))};\n${body}\n`);
  const child = maxFileBlocks === undefined
    ? spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('sh', ['-c', `ulimit -f ${maxFileBlocks} && exec "$0" "$1"`, process.execPath, script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let ready = Number.NaN;
  let stderr = '';
  const out: Buffer[] = [];
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
    if (!Number.isNaN(ready) || !stderr.includes('ready')) return;
    ready = performance.now();
    if (reader === 'closed') child.stdout.destroy();
  });
  // Both read to their end: 'exit' can come before the last of either.
  const ended = Promise.all([new Promise((done) => child.stdout.once('close', done)), new Promise((done) => child.stderr.once('close', done))]);
  child.stdout.on('data', (data: Buffer) => void out.push(data));
  // Read nothing until the process exits (Node then lets the stream flow) or the reader goes.
  if (reader !== 'open') child.stdout.pause();
  // A script whose exit is held is stopped, and fails the test.
  const guard = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const code = await new Promise<number | null>((done) => child.once('exit', (exitCode) => done(exitCode)));
  clearTimeout(guard);
  const tookMs = performance.now() - ready;
  await ended;
  return { code, tookMs, stdout: Buffer.concat(out).toString('utf8'), stderr };
}

/** Fills stdout (a pipe nobody reads) with 3 MB of 10 KB lines in chunks, then runs `then`. */
const fillThen = (then: string) => `
  const lost = [];
  const sink = auditDestination(undefined, (error, lines) => lost.push([error.message, lines]));
  const line = JSON.stringify({ pad: 'x'.repeat(10_000) }) + '\\n';
  for (let i = 0; i < 300; i += 1) sink.write(line);
  setTimeout(() => { process.stderr.write('ready\\n'); ${then} }, 200);
`;

describe('a write to AUDIT_LOG_FILE cut short (a full disk)', () => {
  /** 99 bytes each: 165 of them fit in the 16,384 bytes of the file, and the 166th is cut. */
  const lines = Array.from({ length: 400 }, (_, i) => `${JSON.stringify({ n: 100 + i, pad: 'x'.repeat(80) })}\n`).join('');

  it('leaves whole lines in the file, the line it cut off, and counts only the lines not written', async () => {
    const file = join(dir, 'cut.log');
    const run = await runChild('cut-line', `
      const lost = [];
      const sink = auditDestination(${JSON.stringify(file)}, (error, lines) => lost.push([error.code, lines]));
      // Over a chunk: handed over at once.
      sink.write(${JSON.stringify(lines)});
      const waiting = setInterval(() => {
        if (lost.length === 0) return;
        clearInterval(waiting);
        // Room for it once the cut line is gone: the file holds whole lines.
        sink.write('{"n":"after"}\\n');
        sink.end().then(() => process.stderr.write(JSON.stringify({ lost }) + '\\n'));
      }, 10);`, 'open', 32);
    expect(run.code).toBe(0);
    const { lost } = JSON.parse(run.stderr) as { lost: [string, number][] };
    const written = await fileLines(file);
    expect(written.map((line) => line['n'])).toEqual([...Array.from({ length: 165 }, (_, i) => 100 + i), 'after']);
    expect((await readFile(file, 'utf8')).endsWith('\n')).toBe(true);
    expect(lost).toEqual([['EFBIG', 235]]);
  });

  it('leaves whole lines in the file when the lines written at exit are cut short', async () => {
    const file = join(dir, 'cut-at-exit.log');
    const run = await runChild('cut-line-at-exit', `
      const sink = auditDestination(${JSON.stringify(file)}, () => undefined);
      setTimeout(() => {
        // Under a chunk, within the flush interval: held until the exit.
        sink.write(${JSON.stringify(lines.slice(0, 200 * 99))});
        process.once('exit', () => sink.flushSync());
        process.exit(0);
      }, 100);`, 'open', 32);
    expect(run.code).toBe(0);
    expect((await fileLines(file)).map((line) => line['n'])).toEqual(Array.from({ length: 165 }, (_, i) => 100 + i));
  });
});

describe('exit is never held by the audit destination', () => {
  it('gives up a close after the wait when stdout\'s reader does not read, counts the lines, and exits', async () => {
    const run = await runChild('stuck-close', fillThen(`
      const started = performance.now();
      sink.end().then(() => {
        process.stderr.write(JSON.stringify({ waitedMs: Math.round(performance.now() - started), lost }) + '\\n');
        process.exit(0);
      });`), 'stuck');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stderr.split('\n').find((l) => l.startsWith('{')) ?? '{}') as { waitedMs: number; lost: [string, number][] };
    expect(report.waitedMs).toBeGreaterThanOrEqual(4_900);
    expect(report.waitedMs).toBeLessThan(6_500);
    // What the pipe took is written; the rest is counted: every line either arrived whole or was
    // counted, none both, though the close gave up a write mid-way.
    const lostLines = report.lost.reduce((sum, [, n]) => sum + n, 0);
    const whole = run.stdout.split('\n').filter((l) => l.endsWith('}')).length;
    expect(whole).toBeGreaterThan(0);
    expect(whole + lostLines).toBe(300);
    expect(run.tookMs).toBeLessThan(8_000);
  }, 15_000);

  it('exits at once, after its close, when stdout\'s reader is gone (no retry loop on EPIPE)', async () => {
    const run = await runChild('closed-close', fillThen(`
      setTimeout(() => sink.end().then(() => { process.stderr.write(JSON.stringify({ lost }) + '\\n'); process.exit(0); }), 200);`), 'closed');
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/EPIPE/);
    expect(run.tookMs).toBeLessThan(3_000);
  });

  it('exits at once when the process exits without a close while stdout is full (the crash path)', async () => {
    const run = await runChild('stuck-crash', fillThen(`
      process.once('exit', () => sink.flushSync());
      process.exit(3);`), 'stuck');
    expect(run.code).toBe(3);
    expect(run.tookMs).toBeLessThan(3_000);
  });

  it('exits at once on the crash path after stdout\'s reader went', async () => {
    const run = await runChild('closed-crash', fillThen(`
      process.once('exit', () => sink.flushSync());
      setTimeout(() => process.exit(3), 300);`), 'closed');
    expect(run.code).toBe(3);
    expect(run.tookMs).toBeLessThan(3_000);
  });

  it('waits at most 0.5 s on the crash path for room in a stdout that is full', async () => {
    const run = await runChild('full-crash', `
      import { writeSync } from 'node:fs';
      const sink = auditDestination(undefined, () => undefined);
      // stdout full of bytes written: none of the destination's own is left unfinished.
      const fill = () => {
        for (const bytes = Buffer.alloc(64 * 1024, 0x0a); ; ) {
          try {
            writeSync(1, bytes);
          } catch (error) {
            if (error.code === 'EAGAIN') return;
            throw error;
          }
        }
      };
      fill();
      // Full again once the test's end of the pipe has buffered what it takes before it stops reading.
      setTimeout(() => {
        fill();
        for (let n = 0; n < 5; n += 1) sink.write(JSON.stringify({ n }) + '\\n');
        process.stderr.write('ready\\n');
        process.once('exit', () => sink.flushSync());
        process.exit(3);
      }, 300);`, 'stuck');
    expect(run.code).toBe(3);
    expect(run.tookMs).toBeLessThan(3_000);
  });

  it('writes nothing on the crash path behind a write to a pipe left unfinished, which would break its line', async () => {
    const fifo = join(dir, 'unfinished.pipe');
    execFileSync('mkfifo', [fifo]);
    const run = await runChild('unfinished-crash', `
      import { constants, openSync, readSync } from 'node:fs';
      // The script reads the FIFO itself: all of it, at the moment it exits.
      const reader = openSync(${JSON.stringify(fifo)}, constants.O_RDONLY | constants.O_NONBLOCK);
      const read = [];
      const readAll = () => {
        const buffer = Buffer.alloc(64 * 1024);
        for (;;) {
          try {
            const n = readSync(reader, buffer);
            if (n === 0) return;
            read.push(Buffer.from(buffer.subarray(0, n)));
          } catch (error) {
            if (error.code === 'EAGAIN') return;
            throw error;
          }
        }
      };
      const sink = auditDestination(${JSON.stringify(fifo)}, () => undefined);
      const line = JSON.stringify({ pad: 'x'.repeat(10_000) }) + '\\n';
      // Far more than the FIFO holds: a write is left stopped mid-line when it is full.
      for (let i = 0; i < 30; i += 1) sink.write(line);
      setTimeout(() => {
        // Under a chunk, within the flush interval: held in memory when the process exits.
        sink.write(JSON.stringify({ n: 'held' }) + '\\n');
        // Room in the FIFO again, which the unfinished write is not given before the exit.
        readAll();
        process.once('exit', () => {
          sink.flushSync();
          readAll();
          const whole = Buffer.concat(read).toString('utf8').split('\\n').slice(0, -1);
          const broken = whole.filter((l) => { try { JSON.parse(l); return false; } catch { return true; } });
          process.stderr.write(JSON.stringify({ whole: whole.length, broken: broken.length }) + '\\n');
        });
        process.exit(0);
      }, 200);`, 'open');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stderr.split('\n').find((l) => l.startsWith('{')) ?? '{}') as { whole: number; broken: number };
    // What the FIFO took before it was full: whole lines, and the start of the one cut short.
    expect(report.whole).toBeGreaterThan(0);
    expect(report.broken).toBe(0);
  });

  it('writes, on the crash path, the lines still held when the pipe has room', async () => {
    const run = await runChild('crash-writes', `
      const sink = auditDestination(undefined, () => undefined);
      setTimeout(() => {
        // Under a chunk, within the flush interval: held in memory when the process exits.
        for (let n = 0; n < 5; n += 1) sink.write(JSON.stringify({ n }) + '\\n');
        process.once('exit', () => sink.flushSync());
        process.exit(0);
      }, 100);`, 'open');
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { n: number }).n)).toEqual([0, 1, 2, 3, 4]);
  });
});
