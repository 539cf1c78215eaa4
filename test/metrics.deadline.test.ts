import { resolve } from 'node:path';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetricsSource } from '../src/telemetry/cluster-metrics.js';
import { buildTestApp } from './helpers/app.js';
import { killLeftovers, processRef, waitUntilExited, type ProcessRef } from './helpers/exited.js';
import { connectTo, readResponse } from './helpers/raw-http.js';
import { spawnNode, type Spawned } from './helpers/spawned.js';
import { sample } from './helpers/telemetry.js';

// The scrape and the probes are not decisions: REQUEST_TIMEOUT_MS does not cut them short, nor
// counts them as decision timeouts. The WORKERS process then serves, before it goes, a second
// signal to its primary (one process started for both, to keep the suite short).

describe('GET /metrics, /healthz and /readyz with a short REQUEST_TIMEOUT_MS (in process)', () => {
  it('waits for a metrics source slower than the decision deadline', async () => {
    const slow: MetricsSource = {
      contentType: 'text/plain; version=0.0.4; charset=utf-8',
      metrics: () => new Promise((done) => setTimeout(() => done('slow_metric 1\n'), 150)),
    };
    const { app } = await buildTestApp({ app: { requestTimeoutMs: 20, metricsSource: slow } });
    const res = await app.request('/metrics', { headers: { 'x-request-id': 'scrape-1' } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('slow_metric 1\n');
    // The request frame's other duties stay.
    expect(res.headers.get('x-request-id')).toBe('scrape-1');
    for (const path of ['/healthz', '/readyz']) expect((await app.request(path)).status).toBe(200);
  });
});

const main = resolve(import.meta.dirname, '../dist/main.js');

/** GET /metrics on a connection of its own (the primary hands connections to workers in turn). */
async function scrape(url: string) {
  const res = await fetch(`${url}/metrics`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(15_000) });
  return { status: res.status, text: await res.text() };
}

describe('WORKERS=2 with REQUEST_TIMEOUT_MS=20 (the real process)', () => {
  let running: Spawned;
  let url: string;
  let port: number;
  let workers: ProcessRef[] = [];

  beforeAll(async () => {
    running = spawnNode(main, {
      PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', WORKERS: '2', NODE_ENV: 'test', POLICY_WATCH: 'false',
      POLICY_DIR: resolve(import.meta.dirname, '../policies'),
      REQUEST_TIMEOUT_MS: '20', SHUTDOWN_TIMEOUT_MS: '30000',
    });
    const listening = await running.waitFor((l) => l['msg'] === 'worker listening', 2);
    port = Number(listening[0]?.['port']);
    url = `http://127.0.0.1:${String(port)}`;
    workers = listening.map((w) => processRef(Number(w['pid'])));
    await running.waitFor((l) => l['msg'] === 'invoice-pdp listening', 2);
  });

  afterAll(() => {
    running.child.kill('SIGKILL');
    killLeftovers(workers);
  });

  it('answers every scrape with the sum over both workers, none of them a timeout', async () => {
    const scrapes = [];
    for (let i = 0; i < 10; i++) scrapes.push(await scrape(url));
    expect(scrapes.map((s) => s.status)).toEqual(Array(10).fill(200));
    const last = scrapes.at(-1)?.text ?? '';
    expect(sample(last, 'pdp_cluster_scrape_workers', { result: 'answered' })).toBe(2);
    expect(sample(last, 'pdp_requests_rejected_total', { reason: 'timeout' })).toBe(0);
  });

  it('exits at once, non-zero, on a second signal while a request is still arriving', async () => {
    // A request answered on the connection first: it is then a worker's, not waiting in the primary.
    const socket: Socket = await connectTo(port);
    socket.write('GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n');
    expect((await readResponse(socket)).status).toBe(200);
    // Half the next request's headers: it keeps its worker draining, beyond the decision deadline.
    socket.write('POST /decide HTTP/1.1\r\nhost: 127.0.0.1\r\n');
    socket.on('error', () => undefined);

    running.child.kill('SIGTERM');
    await running.waitFor((l) => l['msg'] === 'stopping workers');
    await running.waitFor((l) => l['msg'] === 'shutting down: draining connections', 2);
    // Before the fix, the primary waited for the drain (until the worker's 10 s header timeout here).
    const signalled = performance.now();
    running.child.kill('SIGINT');
    const code = await Promise.race([running.exited, new Promise((r) => setTimeout(() => r('still running'), 5_000))]);
    expect(code).toBe(1);
    expect(performance.now() - signalled).toBeLessThan(5_000);
    expect(running.lines.some((l) => l['msg'] === 'second signal: workers killed, exiting at once')).toBe(true);
    expect(await waitUntilExited(workers, 5_000)).toEqual([]);
    socket.destroy();
  });
});
