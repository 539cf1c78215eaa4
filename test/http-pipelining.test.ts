import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { problemTypes } from '../src/http/problem.js';
import { countRejections } from '../src/http/rejections.js';
import { startServer, type RunningServer } from '../src/http/server.js';
import { auditSettled, buildObservedApp, sample } from './helpers/telemetry.js';

const decideBody = JSON.stringify({
  subject: { id: 'alice', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } },
  action: 'read',
  resource: { type: 'invoice', properties: { region: 'EU' } },
});

/** A /decide request whose head is `firstLines` (request line and headers) and whose body is the decision above. */
const decide = (firstLines = 'POST /decide HTTP/1.1\r\nhost: 127.0.0.1', body = decideBody) =>
  `${firstLines}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

/** A response as read off the wire. */
interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** Every complete response in `received`, in order (each with a Content-Length, as this server sends them). */
function answersIn(received: string): Answer[] {
  const answers: Answer[] = [];
  let rest = received;
  for (let end = rest.indexOf('\r\n\r\n'); end >= 0; end = rest.indexOf('\r\n\r\n')) {
    const [statusLine = '', ...lines] = rest.slice(0, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    answers.push({ status: Number(statusLine.split(' ')[1]), headers, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
  return answers;
}

/**
 * Writes `data` in one write on a new connection and resolves with every response read until the
 * server closes the connection (or `waitMs` passes), and how long that took.
 */
function exchange(port: number, data: string, waitMs = 3_000): Promise<{ answers: Answer[]; closed: boolean; tookMs: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect(port, '127.0.0.1', () => socket.write(data));
    let received = '';
    const done = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ answers: answersIn(received), closed, tookMs: performance.now() - started });
    };
    const timer = setTimeout(() => done(false), waitMs);
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.once('end', () => done(true));
    socket.once('error', reject);
  });
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('pipelined requests (a real listening socket)', () => {
  let running: RunningServer;
  let observed: Awaited<ReturnType<typeof buildObservedApp>>;
  beforeAll(async () => {
    observed = await buildObservedApp();
    running = await startServer(observed.app.fetch, {
      port: 0,
      hostname: '127.0.0.1',
      maxHeaderBytes: 4096,
      headersTimeoutMs: 2_000,
      requestTimeoutMs: 3_000,
      onProblem: countRejections(observed.metrics),
    });
  });
  afterAll(async () => {
    await running.shutdown(1_000);
  });

  const metricsText = async () => (await fetch(`http://127.0.0.1:${running.port}/metrics`)).text();
  /** Decisions counted so far, over every series of pdp_decisions_total. */
  const decisionsIn = (text: string) =>
    text.split('\n').filter((line) => line.startsWith('pdp_decisions_total')).reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
  const rejectedIn = (text: string, reason: keyof typeof problemTypes) => sample(text, 'pdp_requests_rejected_total', { reason }) ?? 0;

  /** Audit lines and decisions counted while `run` runs, and a while after it (a request evaluated late would show). */
  async function decidedDuring(run: () => Promise<void>): Promise<{ audited: number; decided: number }> {
    await auditSettled();
    const linesBefore = observed.sink.lines.length;
    const decidedBefore = decisionsIn(await metricsText());
    await run();
    await pause(300);
    await auditSettled();
    return { audited: observed.sink.lines.length - linesBefore, decided: decisionsIn(await metricsText()) - decidedBefore };
  }

  it('answers valid pipelined requests one by one, in order, and keeps the connection open', async () => {
    const ids = ['p-1', 'p-2', 'p-3'];
    const sent = decidedDuring(async () => {
      const { answers, closed } = await exchange(running.port, ids.map((id) => decide(`POST /decide HTTP/1.1\r\nhost: 127.0.0.1\r\nx-request-id: ${id}`)).join(''), 500);
      expect(answers.map((answer) => [answer.status, answer.headers['x-request-id']])).toEqual(ids.map((id) => [200, id]));
      expect(closed).toBe(false);
    });
    expect(await sent).toEqual({ audited: 3, decided: 3 });
  });

  const oneMiB = 1024 * 1024;
  it.each([
    ['a 415', 415, decide('POST /decide HTTP/1.1\r\nhost: 127.0.0.1').replace('application/json', 'text/plain')],
    ['a 413 judged on Content-Length, its body sent whole', 413, decide('POST /decide HTTP/1.1\r\nhost: 127.0.0.1', ' '.repeat(oneMiB + 1))],
    ['a 400 for a missing Host', 400, decide('POST /decide HTTP/1.1\r\nx-request-id: no-host')],
    ['a 417', 417, decide('POST /decide HTTP/1.1\r\nhost: 127.0.0.1\r\nexpect: foo')],
    ['a 400 for a Host that is not one', 400, decide('POST /decide HTTP/1.1\r\nhost: a b')],
  ])('neither evaluates nor answers requests pipelined after %s that closes the connection', async (_, status, refused) => {
    const counted = await decidedDuring(async () => {
      const { answers, closed } = await exchange(running.port, refused + decide().repeat(50));
      expect(answers.map((answer) => answer.status)).toEqual([status]);
      expect(answers[0]?.headers['connection']).toBe('close');
      expect(closed).toBe(true);
    });
    expect(counted).toEqual({ audited: 0, decided: 0 });
  });

  it('drops requests sent after the answer to a refused body, while its rest is read', async () => {
    const counted = await decidedDuring(async () => {
      // Keeps sending after the server's FIN, as a client writing its whole body before it reads does.
      const socket = connect({ port: running.port, host: '127.0.0.1', allowHalfOpen: true });
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.on('error', () => undefined);
      let received = '';
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
      const ended = new Promise((resolve) => socket.once('close', resolve));
      socket.write(`POST /decide HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: text/plain\r\ncontent-length: 10\r\n\r\n`);
      await pause(100);
      socket.end(`0123456789${decide().repeat(5)}`);
      await ended;
      expect(answersIn(received).map((answer) => answer.status)).toEqual([415]);
    });
    expect(counted).toEqual({ audited: 0, decided: 0 });
  });

  it.each([
    ['a malformed chunk size', 'transfer-encoding: chunked', 'zz\r\n'],
    ['a chunk size too large', 'transfer-encoding: chunked', 'ffffffffffffffffff\r\n'],
    ['a chunk-size line ending in a bare LF', 'transfer-encoding: chunked', '5\n{"tok\r\n'],
  ])('answers %s sent in the same write as the headers 400 at once, with its X-Request-ID', async (_, framing, part) => {
    const { answers, tookMs } = await exchange(
      running.port,
      `POST /decide HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\nx-request-id: fr\r\n${framing}\r\n\r\n${part}`,
    );
    expect(answers.map((answer) => answer.status)).toEqual([400]);
    expect(answers[0]?.headers['x-request-id']).toBe('fr');
    expect(JSON.parse(answers[0]?.body ?? '')).toMatchObject({
      type: 'urn:invoice-pdp:problem:invalid_request',
      detail: 'the body was not received in full: its framing is not valid HTTP/1.1',
      errors: [{ path: '$', message: 'incomplete body' }],
    });
    expect(tookMs).toBeLessThan(1_000);
  });

  const badChunk = (requestLine: string) =>
    `${requestLine}\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\nx-request-id: bad-chunk\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\nZZ\r\n`;

  it('answers a malformed chunk of a request pipelined behind one being answered 400 at once, with its own id', async () => {
    const { answers, closed, tookMs } = await exchange(running.port, decide() + badChunk('POST /decide HTTP/1.1'));
    expect(answers.map((answer) => [answer.status, answer.headers['x-request-id']])).toEqual([[200, expect.any(String)], [400, 'bad-chunk']]);
    expect(answers[1]?.headers['connection']).toBe('close');
    expect(closed).toBe(true);
    expect(tookMs).toBeLessThan(1_000);
  });

  it('gives a request answered without reading its body one answer, and none more for its malformed chunk', async () => {
    const { answers, closed, tookMs } = await exchange(running.port, decide() + badChunk('GET /healthz HTTP/1.1'));
    expect(answers.map((answer) => answer.headers['x-request-id'])).toEqual([expect.any(String), 'bad-chunk']);
    expect(closed).toBe(true);
    expect(tookMs).toBeLessThan(1_000);
  });

  it.each([
    ['headers over the limit', `GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nx-pad: ${'p'.repeat(5_000)}\r\n\r\n`, 431, 'headers_too_large'],
    ['a request that is not HTTP', 'GARBAGE\r\n\r\n', 400, 'invalid_request'],
  ] as const)('answers %s pipelined behind requests still being answered after them, and counts it', async (_, bad, status, reason) => {
    const before = await metricsText();
    const { answers, closed } = await exchange(running.port, decide().repeat(2) + bad);
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, status]);
    expect(answers[2]?.headers['connection']).toBe('close');
    expect(JSON.parse(answers[2]?.body ?? '')).toMatchObject({ type: `urn:invoice-pdp:problem:${reason}` });
    expect(closed).toBe(true);
    expect(rejectedIn(await metricsText(), reason) - rejectedIn(before, reason)).toBe(1);
  });

  it('answers requests pipelined in front of a CONNECT, then the CONNECT 400, and closes', async () => {
    const before = await metricsText();
    const counted = await decidedDuring(async () => {
      const ahead = ['c-1', 'c-2'].map((id) => decide(`POST /decide HTTP/1.1\r\nhost: 127.0.0.1\r\nx-request-id: ${id}`)).join('');
      const { answers, closed } = await exchange(running.port, `${ahead}CONNECT x:443 HTTP/1.1\r\nhost: x:443\r\nx-request-id: connect-1\r\n\r\n`);
      expect(answers.map((answer) => [answer.status, answer.headers['x-request-id']])).toEqual([[200, 'c-1'], [200, 'c-2'], [400, 'connect-1']]);
      expect(answers[2]?.headers['connection']).toBe('close');
      expect(JSON.parse(answers[2]?.body ?? '')).toMatchObject({ type: 'urn:invoice-pdp:problem:invalid_request', detail: 'the request cannot be read: CONNECT is not supported' });
      expect(closed).toBe(true);
    });
    expect(counted).toEqual({ audited: 2, decided: 2 });
    expect(rejectedIn(await metricsText(), 'invalid_request') - rejectedIn(before, 'invalid_request')).toBe(1);
  });

  // Node's parser stops at the end of a request asking to upgrade the connection, and drops the
  // rest of the read it ended in: what the client sent behind it in the same write is lost.
  const upgradeRequest = (id: string) => `GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nx-request-id: ${id}\r\nconnection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\n\r\n`;

  it('answers a request asking to upgrade the connection, then closes it: a request pipelined behind is not left unanswered', async () => {
    const counted = await decidedDuring(async () => {
      const { answers, closed, tookMs } = await exchange(running.port, upgradeRequest('up-1') + decide(), 1_500);
      expect(answers.map((answer) => [answer.status, answer.headers['x-request-id']])).toEqual([[200, 'up-1']]);
      expect(answers[0]?.headers['connection']).toBe('close');
      expect(closed).toBe(true);
      expect(tookMs).toBeLessThan(1_000);
    });
    expect(counted).toEqual({ audited: 0, decided: 0 });
  });

  it('never reads the body of a request whose head was dropped behind an upgrade request as a request of its own', async () => {
    const smuggled = decide(`POST /decide HTTP/1.1\r\nhost: 127.0.0.1\r\nx-request-id: smuggled`);
    const counted = await decidedDuring(async () => {
      const socket = connect(running.port, '127.0.0.1');
      socket.on('error', () => undefined);
      let received = '';
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(`${upgradeRequest('up-2')}POST /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: ${Buffer.byteLength(smuggled)}\r\n\r\n`);
      await expect.poll(() => answersIn(received).length).toBe(1);
      // The body of the POST, which is a request in itself.
      socket.write(smuggled);
      await pause(300);
      socket.destroy();
      expect(answersIn(received).map((answer) => [answer.status, answer.headers['x-request-id']])).toEqual([[200, 'up-2']]);
    });
    expect(counted).toEqual({ audited: 0, decided: 0 });
  });

  it('stops reading a connection whose client pipelines without reading the answers', { timeout: 30_000 }, async () => {
    // Before, every request was parsed and queued: 1 GB in 6 s from one connection.
    let parsed = 0;
    const count = () => void (parsed += 1);
    running.server.on('request', count);
    const one = 'GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n';
    const chunk = one.repeat(Math.floor(65_536 / one.length));
    const socket = connect(running.port, '127.0.0.1');
    try {
      socket.pause();
      const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));
      // The loopback buffers hold thousands of answers before they are full: a loaded machine
      // took more than 6 s to fill them in one CI run.
      const deadline = performance.now() + 20_000;
      const pump = () => {
        while (performance.now() < deadline && socket.write(chunk));
      };
      socket.on('drain', pump);
      socket.once('connect', pump);
      // Once the answers fill the kernel's buffers, no request is parsed any more: half a second
      // without a new one comes within the 20 s the client keeps sending (1-2 s unloaded).
      let quiet = false;
      for (let last = -1; !quiet && performance.now() < deadline; ) {
        await sleep(500);
        quiet = parsed === last;
        last = parsed;
      }
      expect(quiet).toBe(true);
    } finally {
      socket.destroy();
      running.server.off('request', count);
    }
  });
});
