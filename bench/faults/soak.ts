/**
 * `npm run soak [-- --minutes 10 --rate 1000]`: the service at a steady request rate for a
 * long while (10 minutes by default; not part of CI). The service is pinned to one core
 * and the load process to the other when `taskset` is available. Every 10 s it records
 * the service's RSS and the latency of that interval; results go to
 * bench/results/soak.json and RELIABILITY.md. Exits 1 unless every request was answered as
 * expected (`lib/checks.ts` `soakChecks`): an answer with another status fails it too.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { spawnServer } from '../../test/helpers/spawn-server.js';
import { soakChecks, unanswered } from './lib/checks.js';
import { startLoad } from './lib/load-client.js';
import { resultsDir, soakFile, thisMachine, writeJson, type SoakResults, type SoakSample } from './lib/results.js';
import { stopServer } from './lib/server-exit.js';
import { writeReliabilityReport } from './report.js';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '10' }, rate: { type: 'string', default: '1000' } } });
const durationS = Math.round(Number(values.minutes) * 60);
const ratePerSecond = Number(values.rate);
const intervalMs = 10_000;

function pin(pid: number | undefined, cpu: number): boolean {
  if (pid === undefined) return false;
  try {
    execFileSync('taskset', ['-cp', String(cpu), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function rssMiB(pid: number | undefined): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

const server = spawnServer();
const port = await server.listening;
const load = startLoad({ port, concurrency: 64, durationMs: durationS * 1000, maxRequests: Number.MAX_SAFE_INTEGER, ratePerSecond, seed: 7, hostileShare: 0.02, intervalMs });
const pinned = pin(server.child.pid, 0) && pin(load.pid, 1) ? 'service pinned to CPU 0, load to CPU 1' : 'not pinned (no taskset)';
process.stderr.write(`soak: ${durationS} s at ${ratePerSecond}/s on port ${port}, ${pinned}\n`);

const started = performance.now();
const samples: SoakSample[] = [];
let seen = 0;
async function sampleNew(): Promise<void> {
  const fresh = load.intervals.slice(seen);
  seen += fresh.length;
  for (const interval of fresh) {
    const c = interval.counts;
    const sample: SoakSample = {
      t: Math.round((performance.now() - started) / 100) / 10,
      rssMiB: Math.round((await rssMiB(server.child.pid)) * 10) / 10,
      requests: c.sent,
      failed: unanswered(c),
      wrong: c.wrongPermit + c.wrongDeny,
      ...interval.latency,
    };
    samples.push(sample);
    process.stderr.write(`  t=${sample.t}s rss=${sample.rssMiB}MiB n=${sample.requests} p50=${sample.p50}ms p99=${sample.p99}ms failed=${sample.failed} wrong=${sample.wrong}\n`);
  }
}
// One sampling at a time, so samples keep the order of their intervals.
let sampling = Promise.resolve();
const takeSamples = () => (sampling = sampling.then(sampleNew));
const sampler = setInterval(() => void takeSamples(), 1_000);

const summary = await load.done;
clearInterval(sampler);
// The intervals that came in since the last sampling, the run's last partial one among them.
await takeSamples();
await stopServer(server);

const t = summary.total;
const results: SoakResults = {
  machine: thisMachine(),
  ranAt: new Date().toISOString(),
  durationS,
  ratePerSecond,
  pinned,
  samples,
  total: { sent: t.sent, answered: t.answered, correct: t.correct, wrong: t.wrongPermit + t.wrongDeny, failed: unanswered(t), closedWhileSending: t.closedWhileSending },
  misses: summary.misses,
};
await mkdir(resultsDir, { recursive: true });
await writeJson(soakFile, results);
await writeReliabilityReport();
const checks = soakChecks(t);
for (const c of checks) process.stderr.write(`  ${c.passed ? '✓' : '✗'} ${c.name}: ${c.detail}\n`);
process.exit(checks.every((c) => c.passed) ? 0 : 1);
