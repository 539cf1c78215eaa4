import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { problemTypes } from '../src/http/problem.js';
import { countRejections } from '../src/http/rejections.js';
import { startServer, type RunningServer } from '../src/http/server.js';
import { connectTo, readResponse } from './helpers/raw-http.js';
import { buildObservedApp, sample } from './helpers/telemetry.js';

const reasons = Object.keys(problemTypes);
const head = (framing: string, requestId: string) =>
  `POST /decide HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\nx-request-id: ${requestId}\r\n${framing}\r\n\r\n`;

describe('a body the client did not finish sending (a real listening socket)', () => {
  let running: RunningServer;
  const unexpected: unknown[] = [];
  beforeAll(async () => {
    const { app, metrics } = await buildObservedApp({ app: { onUnexpectedError: (error) => unexpected.push(error) } });
    running = await startServer(app.fetch, { port: 0, hostname: '127.0.0.1', onProblem: countRejections(metrics) });
  });
  afterAll(async () => {
    await running.shutdown(1_000);
  });

  const metricsText = async () => (await fetch(`http://127.0.0.1:${running.port}/metrics`)).text();
  const decideStatus = (text: string, status: number) => sample(text, 'http_requests_total', { method: 'POST', route: '/decide', status: String(status) }) ?? 0;

  /** What the counters grew by between two scrapes: rejections by reason, and /decide answers by status. */
  function growth(before: string, after: string) {
    const rejected = Object.fromEntries(
      reasons.map((reason) => [reason, (sample(after, 'pdp_requests_rejected_total', { reason }) ?? 0) - (sample(before, 'pdp_requests_rejected_total', { reason }) ?? 0)]),
    );
    return { rejected, answered400: decideStatus(after, 400) - decideStatus(before, 400), answered500: decideStatus(after, 500) - decideStatus(before, 500) };
  }

  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  /**
   * A scrape once `count` rejections more than in `before` are counted (the app answers an abort
   * after it happens), and a while longer, so that one counted twice shows.
   */
  async function afterRejections(before: string, count: number): Promise<string> {
    const total = (text: string) => reasons.reduce((sum, reason) => sum + (sample(text, 'pdp_requests_rejected_total', { reason }) ?? 0), 0);
    const deadline = performance.now() + 3_000;
    while (total(await metricsText()) - total(before) < count && performance.now() < deadline) await pause(20);
    await pause(200);
    return metricsText();
  }

  it.each([
    ['a declared length', 'content-length: 500', '{"token":"a","action"'],
    ['chunks', 'transfer-encoding: chunked', '15\r\n{"token":"a","action"\r\n'],
  ])('counts a client that goes away midway through a body sent with %s once, as invalid_request, and logs no error', async (_, framing, part) => {
    const before = await metricsText();
    for (let i = 0; i < 3; i++) {
      const socket = await connectTo(running.port);
      socket.write(head(framing, `gone-${i}`) + part);
      await pause(20);
      socket.destroy();
    }
    const counted = growth(before, await afterRejections(before, 3));
    expect(counted.rejected).toEqual({ ...Object.fromEntries(reasons.map((reason) => [reason, 0])), invalid_request: 3 });
    expect(counted.answered400).toBe(3);
    expect(counted.answered500).toBe(0);
    expect(unexpected).toEqual([]);
  });

  it.each([
    ['a client that half-closes before the end of its body', 'content-length: 500', '{"token":"a","action"', 'the client stopped sending it'],
    ['a malformed chunk', 'transfer-encoding: chunked', '5\r\n{"tok\r\nzz\r\n', 'its framing is not valid HTTP/1.1'],
  ])('answers %s 400 with its X-Request-ID, counted once', async (_, framing, part, why) => {
    const before = await metricsText();
    const socket = await connectTo(running.port);
    const response = readResponse(socket);
    socket.write(head(framing, 'unfinished-1') + part);
    if (framing.startsWith('content-length')) socket.end();
    const answer = await response;
    socket.destroy();
    expect(answer.status).toBe(400);
    expect(answer.headers['content-type']).toBe('application/problem+json');
    expect(answer.headers['x-request-id']).toBe('unfinished-1');
    expect(answer.headers['connection']).toBe('close');
    expect(JSON.parse(answer.body)).toMatchObject({
      type: 'urn:invoice-pdp:problem:invalid_request',
      detail: `the body was not received in full: ${why}`,
      requestId: 'unfinished-1',
      errors: [{ path: '$', message: 'incomplete body' }],
    });
    const counted = growth(before, await afterRejections(before, 1));
    expect(counted.rejected).toEqual({ ...Object.fromEntries(reasons.map((reason) => [reason, 0])), invalid_request: 1 });
    expect(counted.answered500).toBe(0);
    expect(unexpected).toEqual([]);
  });
});
