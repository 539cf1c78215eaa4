import { spawn, type ChildProcess } from 'node:child_process';
import { cp, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from './helpers/policy-dir.js';

const main = resolve(import.meta.dirname, '../dist/main.js');
const policies = resolve(import.meta.dirname, '../policies');

let running: ChildProcess | undefined;
afterEach(() => {
  if (running?.exitCode === null && running.signalCode === null) running.kill('SIGKILL');
  running = undefined;
});

/** A policy file whose every one of 200 rules fails to compile: each rejected reload logs a ~20 KB line. */
const badPolicy = {
  id: 'bad',
  resource: 'thing',
  rules: Array.from({ length: 200 }, (_, i) => ({ id: `r${i}`, effect: 'permit', actions: ['read'], condition: `no_such_variable_${i} == 1` })),
};

/**
 * Starts the built service with stderr a pipe this test reads until every process logged that it
 * listens, and then no more: the collector of its application log stops reading.
 */
async function startWithStuckStderr(workers: number): Promise<{ child: ChildProcess; dir: string; read: string }> {
  const dir = (await tempDir()).path;
  await cp(policies, dir, { recursive: true });
  const child = spawn(process.execPath, [main], {
    env: { PATH: process.env['PATH'] ?? '', PORT: '0', HOST: '127.0.0.1', POLICY_DIR: dir, POLICY_WATCH: 'false', WORKERS: String(workers), LOG_LEVEL: 'info' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  running = child;
  const stderr = child.stderr;
  if (stderr === null) throw new Error('no stderr');
  let read = '';
  await new Promise<void>((done, fail) => {
    const onData = (data: Buffer) => {
      read += data.toString('utf8');
      if ((read.match(/"invoice-pdp listening"/g) ?? []).length < workers) return;
      stderr.off('data', onData);
      stderr.pause();
      done();
    };
    stderr.on('data', onData);
    child.once('exit', () => fail(new Error(`exited before listening:\n${read}`)));
  });
  return { child, dir, read };
}

/** Asks for `count` reloads (SIGHUP), each rejected and logged, about 30 ms apart. */
async function rejectedReloads(child: ChildProcess, dir: string, count: number): Promise<void> {
  await writeFile(join(dir, 'bad.json'), JSON.stringify(badPolicy));
  for (let i = 0; i < count; i++) {
    child.kill('SIGHUP');
    await new Promise((wait) => setTimeout(wait, 30));
  }
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })));
}

describe('an application log nobody reads', () => {
  it('holds neither the service nor its exit', async () => {
    const { child, dir } = await startWithStuckStderr(1);
    // ~1.2 MB of log lines: far more than the pipe holds, and beyond the 1 MiB kept unwritten.
    await rejectedReloads(child, dir, 60);
    const exited = exitOf(child);
    const stopAsked = performance.now();
    child.kill('SIGTERM');
    // Before, the process waited for ever on the write the full pipe held.
    const outcome = await Promise.race([exited, new Promise<'still running'>((done) => setTimeout(() => done('still running'), 10_000))]);
    expect(outcome).toEqual({ code: 0, signal: null });
    expect(performance.now() - stopAsked).toBeLessThan(10_000);
  }, 40_000);
});
