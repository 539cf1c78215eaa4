import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');

/** `npm run faults -- ARGS` as a child process of its own. */
function runFaults(args: readonly string[], timeout: number) {
  return spawnSync(process.execPath, ['--import', './bench/ts-register.mjs', 'bench/faults/run.ts', ...args], { cwd: root, encoding: 'utf8', timeout });
}

describe('the fault harness (npm run faults), smoke run', () => {
  it('runs the baseline and the SIGTERM scenarios end to end, records nothing, and passes', () => {
    const run = runFaults(['--quick', 'steady-load', 'sigterm-drain'], 60_000);
    expect(run.stderr).toContain('2 scenario(s) passed, 0 failed');
    expect(run.stderr).not.toContain('✗');
    expect(run.status).toBe(0);
  }, 60_000);

  it('runs a token-mode scenario (key server down, keys rotated) end to end and passes', () => {
    const run = runFaults(['--quick', 'jwks-outage'], 90_000);
    expect(run.stderr).toContain('1 scenario(s) passed, 0 failed');
    expect(run.stderr).not.toContain('✗');
    expect(run.status).toBe(0);
  }, 90_000);

  it('refuses an unknown scenario name', () => {
    const run = runFaults(['no-such-scenario'], 30_000);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('unknown scenario(s): no-such-scenario');
  });
});
