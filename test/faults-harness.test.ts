import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { soakChecks } from '../bench/faults/lib/checks.js';
import { startLoad } from '../bench/faults/lib/load-client.js';
import { emptyCounts } from '../bench/faults/lib/load-protocol.js';
import type { LoadRun } from '../bench/faults/lib/load-client.js';
import { runScenario, type Scenario, type ScenarioContext } from '../bench/faults/lib/scenario.js';
import { sigtermDeadline } from '../bench/faults/scenarios/sigterm.js';
import { startServer } from './helpers/http-server.js';
import { spawnServer, type ServerProcess } from './helpers/spawn-server.js';

/**
 * A stand-in for the service whose shutdown hangs: on SIGTERM it stops listening and cuts its
 * connections, but a timer keeps the process alive for good.
 */
const hangsOnShutdown = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"decision":"deny"}'));
});
server.listen(0, '127.0.0.1', () => process.stderr.write(JSON.stringify({ port: server.address().port, msg: 'invoice-pdp listening' }) + '\\n'));
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  setInterval(() => undefined, 1_000);
});
`;

const servers: ServerProcess[] = [];
const loads: LoadRun[] = [];

afterEach(() => {
  for (const load of loads.splice(0)) load.stop();
  for (const server of servers.splice(0)) server.child.kill('SIGKILL');
});

describe('fault scenarios', () => {
  it('sigterm-deadline fails, rather than waits for ever, when the service never exits after SIGTERM', async () => {
    const context: ScenarioContext = {
      quick: true,
      spawnServer: () => {
        const server = spawnServer({}, ['-e', hangsOnShutdown]);
        servers.push(server);
        return server;
      },
      startLoad: (config) => {
        const load = startLoad(config);
        loads.push(load);
        return load;
      },
      tempDir: () => Promise.reject(new Error('not used')),
    };
    const outcome = await sigtermDeadline.run(context);
    const exit = outcome.checks.find((c) => c.name.startsWith('exits 1 at the bound'));
    expect(exit?.passed).toBe(false);
    expect(exit?.detail).toMatch(/still running \d+ ms after SIGTERM/);
  }, 15_000);
});

describe('soak verdict', () => {
  it('fails a run whose every request was answered 503: answered is not answered as expected', () => {
    const total = { ...emptyCounts(), sent: 1_000, answered: 1_000, unexpectedStatus: 1_000, status5xx: 1_000 };
    const checks = soakChecks(total);
    expect(checks.every((c) => c.passed)).toBe(false);
    expect(checks.filter((c) => !c.passed).map((c) => c.name)).toEqual(['every request answered as expected (whole run)', 'no 5xx (whole run)']);
  });

  it('passes a run answered as expected, oversized bodies refused by closing included', () => {
    const total = { ...emptyCounts(), sent: 1_000, answered: 999, correct: 1_000, closedWhileSending: 1 };
    expect(soakChecks(total).every((c) => c.passed)).toBe(true);
  });
});

describe('load process intervals', () => {
  it('cover every request of the run, the last partial interval included', async () => {
    const server = await startServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"decision":"deny"}'));
    });
    try {
      const load = startLoad({ port: Number(new URL(server.url).port), concurrency: 4, ratePerSecond: 200, durationMs: 700, maxRequests: 1e9, seed: 1, intervalMs: 500 });
      loads.push(load);
      const summary = await load.done;
      const counted = load.intervals.reduce((n, interval) => n + interval.counts.sent, 0);
      expect(summary.total.sent).toBeGreaterThan(100);
      expect(counted).toBe(summary.total.sent);
    } finally {
      await server.close();
    }
  });
});

describe('runScenario', () => {
  it('turns a scenario that throws into a failed check, so the run goes on and records the rest', async () => {
    const broken: Scenario = {
      name: 'broken',
      title: 'throws half-way',
      run: () => Promise.reject(new Error('load summary without the phase "redis killed"')),
    };
    const outcome = await runScenario(broken, true);
    expect(outcome.checks).toEqual([{ name: 'the scenario ran to its end', passed: false, detail: 'Error: load summary without the phase "redis killed"' }]);
  });
});

describe('npm run faults arguments', () => {
  it('refuses an option it does not know instead of running every scenario at length and recording them', () => {
    const run = spawnSync(process.execPath, ['--import', resolve('bench/ts-register.mjs'), resolve('bench/faults/run.ts'), '--quik', 'no-such-scenario'], { encoding: 'utf8', timeout: 10_000 });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("Unknown option '--quik'");
  });
});
