import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { AggregatorRegistry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { gatherTimeoutMs, scrapeTimeoutMs } from '../src/telemetry/cluster-metrics.js';
import { PdpMetrics } from '../src/telemetry/metrics.js';
import { exited, killLeftovers, processRef, signalIfRunning, type ProcessRef } from './helpers/exited.js';
import { connectTo, readResponse } from './helpers/raw-http.js';
import { spawnNode, type Spawned } from './helpers/spawned.js';
import { sample } from './helpers/telemetry.js';

const main = resolve(import.meta.dirname, '../dist/main.js');

/** What one worker's registry says, as the primary receives it. */
async function workerRegistry(version: string, rules: number, redisUp: boolean) {
  const metrics = new PdpMetrics();
  metrics.policyLoaded(version, rules);
  metrics.redisUp(redisUp);
  return metrics.registry.getMetricsAsJSON();
}

describe('cluster aggregation of the gauges', () => {
  it('keeps a state a state: one per version in force, the rule count, Redis down if any worker lost it', async () => {
    const text = await AggregatorRegistry.aggregate([
      await workerRegistry('v1', 9, true),
      await workerRegistry('v2', 10, false), // reloaded, and has lost Redis
    ]).metrics();
    expect(sample(text, 'pdp_policy_info', { version: 'v1' })).toBe(1);
    expect(sample(text, 'pdp_policy_info', { version: 'v2' })).toBe(1);
    expect(sample(text, 'pdp_policy_rules')).toBe(10);
    expect(sample(text, 'pdp_redis_up')).toBe(0);
  });
});

/** GET /metrics on a connection of its own (the primary hands connections to workers in turn). */
async function scrape(url: string, timeoutMs: number) {
  const started = performance.now();
  const res = await fetch(`${url}/metrics`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, text: await res.text(), ms: performance.now() - started };
}

const workersIn = (text: string, result: string) => sample(text, 'pdp_cluster_scrape_workers', { result });

describe('GET /metrics with WORKERS=2 (the real process)', () => {
  // Longer than a log line is waited for (60 s), as in the other WORKERS=2 tests: a slow start
  // on a loaded machine then fails, if at all, with the log so far, not a bare hook timeout.
  const startTimeoutMs = 90_000;
  // The bound on a scrape with a worker hung: the gather timeout, plus summing and slack.
  const boundMs = gatherTimeoutMs + 1_500;
  let running: Spawned;
  let url: string;
  let workers: ProcessRef[];
  let summary: Record<string, unknown>;
  let spawnedAt: number;

  beforeAll(async () => {
    spawnedAt = Date.now() / 1000;
    running = spawnNode(main, {
      PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', WORKERS: '2',
      POLICY_DIR: resolve(import.meta.dirname, '../policies'),
      REDIS_URL: inject('redisUrl'), CACHE_PREFIX: `test:${randomUUID()}:`,
    });
    const listening = await running.waitFor((l) => l['msg'] === 'worker listening', 2);
    url = `http://127.0.0.1:${String(listening[0]?.['port'])}`;
    workers = listening.map((w) => processRef(Number(w['pid'])));
    [summary = {}] = await running.waitFor((l) => l['msg'] === 'invoice-pdp listening', 2);
  }, startTimeoutMs);

  afterAll(async () => {
    // SIGCONT first: a worker left stopped would never see its primary go.
    for (const worker of workers) signalIfRunning(worker, 'SIGCONT');
    running.child.kill('SIGKILL');
    await running.exited;
    killLeftovers(workers);
  });

  it('reports the policy in force and Redis once, not once per worker', async () => {
    const rules = Number(summary['rules']);
    expect(rules).toBeGreaterThan(0);
    // Each worker reports Redis once it has connected; on a loaded host a worker's first commands
    // may miss their 20 ms deadline, which leaves Redis alone for a pause (REDIS_BACKOFF_MS, 1 s).
    let text = '';
    for (let i = 0; i < 50; i++) {
      text = (await scrape(url, 10_000)).text;
      if (workersIn(text, 'answered') === 2 && sample(text, 'pdp_redis_up') === 1) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(sample(text, 'pdp_policy_info', { version: String(summary['policyVersion']) })).toBe(1);
    expect(sample(text, 'pdp_policy_rules')).toBe(rules);
    expect(sample(text, 'pdp_redis_up')).toBe(1);
    expect(workersIn(text, 'answered')).toBe(2);
    // Counters stay summed over the workers.
    expect(text).toMatch(/^pdp_decisions_total\{/m);
  });

  it('reports when the service started: the primary\'s start time, which prom-client leaves out of a sum', async () => {
    const { text } = await scrape(url, 10_000);
    const started = sample(text, 'process_start_time_seconds');
    expect(started).toBeGreaterThanOrEqual(Math.floor(spawnedAt) - 1);
    // Whole seconds, rounded as prom-client rounds its own: up to half a second ahead of a scrape just after the start.
    expect(started).toBeLessThanOrEqual(Math.round(Date.now() / 1000));
    expect(text.match(/^process_start_time_seconds /gm)).toHaveLength(1);
    // The same in every scrape: uptime (time() - process_start_time_seconds) grows, and
    // changes() counts no restart.
    await new Promise((later) => setTimeout(later, 1_100));
    expect(sample((await scrape(url, 10_000)).text, 'process_start_time_seconds')).toBe(started);
  });

  it('sums the primary\'s resident memory with the workers\', and takes the descriptor limit of one process', async () => {
    const rss = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${String(pid)}/status`, 'utf8'))?.[1]) * 1024;
    const own = [running.child.pid ?? 0, ...workers.map((w) => w.pid)].reduce((sum, pid) => sum + rss(pid), 0);
    const { text } = await scrape(url, 10_000);
    // Without the primary's (~90 MB here) the sum fell a third short.
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(own * 0.85);
    const limit = Number(/^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${String(workers[0]?.pid)}/limits`, 'utf8'))?.[1]);
    expect(sample(text, 'process_max_fds')).toBe(limit);
  });

  it('covers every worker in each of several scrapes at once', async () => {
    for (let round = 0; round < 3; round++) {
      const texts = (await Promise.all(Array.from({ length: 4 }, () => scrape(url, 10_000)))).map((s) => s.text);
      expect(texts.map((text) => workersIn(text, 'answered'))).toEqual([2, 2, 2, 2]);
    }
  });

  it('answers within the bound with the other worker\'s series while a worker is hung, and recovers', async () => {
    const [hung, other] = workers as [ProcessRef, ProcessRef];
    process.kill(hung.pid, 'SIGSTOP');
    try {
      // The primary may hand one connection to the stopped worker, which never answers it;
      // it hands no more to a worker that has not taken the last one.
      const scrapes = await Promise.allSettled([scrape(url, boundMs), scrape(url, boundMs)]);
      const answers = scrapes.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
      expect(answers.length).toBeGreaterThan(0);
      for (const answer of answers) {
        expect(answer.status, answer.text).toBe(200);
        expect(answer.ms).toBeLessThan(boundMs);
        expect(workersIn(answer.text, 'answered')).toBe(1);
        expect(workersIn(answer.text, 'timed_out')).toBe(1);
        expect(sample(answer.text, 'pdp_policy_rules')).toBe(Number(summary['rules']));
        expect(sample(answer.text, 'pdp_redis_up')).toBe(1);
      }
      // Still owing that answer, the hung worker is not waited for again.
      const next = await scrape(url, boundMs + 1_000);
      expect(next.status).toBe(200);
      expect(next.ms).toBeLessThan(gatherTimeoutMs);
      expect(workersIn(next.text, 'timed_out')).toBe(1);
      expect(exited(other)).toBe(false);
    } finally {
      process.kill(hung.pid, 'SIGCONT');
    }
    let text = '';
    for (let i = 0; i < 30 && workersIn(text, 'answered') !== 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      text = (await scrape(url, boundMs + 1_000)).text;
    }
    expect(workersIn(text, 'answered')).toBe(2);
    expect(workersIn(text, 'timed_out')).toBe(0);
  });

  it('answers at once while a worker that died is being replaced', async () => {
    const [dead] = workers as [ProcessRef];
    process.kill(dead.pid, 'SIGKILL');
    await running.waitFor((l) => l['msg'] === 'worker exited' && l['pid'] === dead.pid);
    const answer = await scrape(url, boundMs + 1_000);
    expect(answer.status, answer.text).toBe(200);
    expect(answer.ms).toBeLessThan(boundMs);
    expect(workersIn(answer.text, 'answered')).toBeGreaterThanOrEqual(1);
    expect((workersIn(answer.text, 'answered') ?? 0) + (workersIn(answer.text, 'not_ready') ?? 0)).toBe(2);
    const replaced = await running.waitFor((l) => l['msg'] === 'worker listening', 3);
    workers.push(processRef(Number(replaced[2]?.['pid'])));
  }, startTimeoutMs);

  it('answers 503 problem+json, not a 500, when the primary does not sum the workers\' metrics in time', async () => {
    // A connection a worker holds already: a stopped primary hands out no new ones.
    const socket = await connectTo(Number(new URL(url).port));
    try {
      const first = readResponse(socket);
      socket.write('GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n');
      expect((await first).status).toBe(200);
      const primary = processRef(running.child.pid ?? 0);
      process.kill(primary.pid, 'SIGSTOP');
      try {
        const started = performance.now();
        const answer = readResponse(socket);
        socket.write('GET /metrics HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n');
        const { status, headers, body } = await answer;
        expect(status).toBe(503);
        expect(headers['content-type']).toBe('application/problem+json');
        // The 5 s README promises, in its words.
        expect(JSON.parse(body)).toMatchObject({ type: 'urn:invoice-pdp:problem:unavailable', detail: 'cluster metrics: no answer from the primary within 5000 ms: scrape again' });
        expect(performance.now() - started).toBeLessThan(scrapeTimeoutMs + 1_000);
      } finally {
        signalIfRunning(primary, 'SIGCONT');
      }
    } finally {
      socket.destroy();
    }
  });
});
