import { connect, type Socket } from 'node:net';
import { deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRejections } from '../src/http/rejections.js';
import { startServer, type RunningServer } from '../src/http/server.js';
import { loadContract } from './helpers/openapi.js';
import { connectTo, readResponse, type RawResponse } from './helpers/raw-http.js';
import { auditSettled, buildObservedApp, sample } from './helpers/telemetry.js';

const decideBody = JSON.stringify({
  subject: { id: 'alice', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } },
  action: 'read',
  resource: { type: 'invoice', properties: { region: 'EU' } },
});

/** `body` as `Transfer-Encoding: chunked` frames it: one chunk, then the last. */
const inChunks = (body: Buffer | string) => Buffer.concat([Buffer.from(`${Buffer.byteLength(body).toString(16)}\r\n`), Buffer.from(body), Buffer.from('\r\n0\r\n\r\n')]);

/** The head of a JSON request to `target` (method and path) whose body goes with `Transfer-Encoding: codings`. */
const head = (codings: string, target = 'POST /decide', requestId = 'te-1') =>
  `${target} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\nx-request-id: ${requestId}\r\ntransfer-encoding: ${codings}\r\n\r\n`;

/** A request sent on a new connection: its answer, and whether the server then closed the connection. */
interface Sent {
  readonly socket: Socket;
  readonly answer: Promise<RawResponse>;
  readonly closed: Promise<boolean>;
}

async function send(port: number, data: Buffer | string): Promise<Sent> {
  const socket = await connectTo(port);
  const answer = readResponse(socket);
  answer.catch(() => undefined);
  const closed = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 3_000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  socket.write(data);
  return { socket, answer, closed };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the transfer codings of a request (a real listening socket)', () => {
  let running: RunningServer;
  let observed: Awaited<ReturnType<typeof buildObservedApp>>;
  beforeAll(async () => {
    observed = await buildObservedApp();
    running = await startServer(observed.app.fetch, { port: 0, hostname: '127.0.0.1', onProblem: countRejections(observed.metrics) });
  });
  afterAll(async () => {
    await running.shutdown(1_000);
  });

  const metricsText = async () => (await fetch(`http://127.0.0.1:${running.port}/metrics`)).text();
  const decisionsIn = (text: string) =>
    text.split('\n').filter((line) => line.startsWith('pdp_decisions_total')).reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
  const rejectedIn = (text: string, reason: string) => sample(text, 'pdp_requests_rejected_total', { reason }) ?? 0;

  /** Audit lines, decisions, 501s and 400s counted while `run` runs, and a while after it (a request evaluated late would show). */
  async function countedDuring(run: () => Promise<void>): Promise<{ audited: number; decided: number; notImplemented: number; invalidRequest: number }> {
    await auditSettled();
    const lines = observed.sink.lines.length;
    const before = await metricsText();
    await run();
    await pause(200);
    await auditSettled();
    const after = await metricsText();
    const grown = (reason: string) => rejectedIn(after, reason) - rejectedIn(before, reason);
    return { audited: observed.sink.lines.length - lines, decided: decisionsIn(after) - decisionsIn(before), notImplemented: grown('not_implemented'), invalidRequest: grown('invalid_request') };
  }

  it.each([
    ['gzip, chunked', gzipSync(decideBody), 'gzip'],
    ['x-gzip, chunked', gzipSync(decideBody), 'x-gzip'],
    ['deflate, chunked', deflateSync(decideBody), 'deflate'],
    // No LZW at hand: the coding named is what is refused, whatever the bytes.
    ['compress, chunked', Buffer.from(decideBody), 'compress'],
    // Not a transfer coding since RFC 7230.
    ['identity, chunked', Buffer.from(decideBody), 'identity'],
    ['GZIP;level=9 ,\tChunked', gzipSync(decideBody), 'GZIP'],
    ['gzip\r\ntransfer-encoding: chunked', gzipSync(decideBody), 'gzip'],
  ])('answers a body sent with Transfer-Encoding: %j 501 problem+json at path Transfer-Encoding, records nothing and closes', async (codings, body, coding) => {
    const counted = await countedDuring(async () => {
      const sent = await send(running.port, Buffer.concat([Buffer.from(head(codings)), inChunks(body)]));
      const answer = await sent.answer;
      expect(answer.status).toBe(501);
      expect(answer.headers['content-type']).toBe('application/problem+json');
      expect(answer.headers['x-request-id']).toBe('te-1');
      expect(answer.headers['connection']).toBe('close');
      expect(JSON.parse(answer.body)).toEqual({
        type: 'urn:invoice-pdp:problem:not_implemented',
        title: 'Not implemented',
        status: 501,
        detail: `the transfer coding "${coding}" is not supported: send the body with chunked alone, or with a Content-Length`,
        instance: '/decide',
        requestId: 'te-1',
        errors: [{ path: 'Transfer-Encoding', message: 'only chunked is supported' }],
      });
      expect(await sent.closed).toBe(true);
    });
    expect(counted).toEqual({ audited: 0, decided: 0, notImplemented: 1, invalidRequest: 0 });
  });

  it('answers at once, before the body, and closes once the rest of it is read, answering nothing sent after it', async () => {
    const counted = await countedDuring(async () => {
      const sent = await send(running.port, head('gzip, chunked'));
      expect((await sent.answer).status).toBe(501);
      let more = '';
      sent.socket.on('data', (chunk: Buffer) => (more += chunk.toString('latin1')));
      sent.socket.write(Buffer.concat([inChunks(gzipSync(decideBody)), Buffer.from(head('chunked', 'POST /decide', 'te-2')), inChunks(decideBody)]));
      expect(await sent.closed).toBe(true);
      expect(more).toBe('');
    });
    expect(counted).toEqual({ audited: 0, decided: 0, notImplemented: 1, invalidRequest: 0 });
  });

  it('answers 501 whatever the route, one without a body included', async () => {
    const sent = await send(running.port, Buffer.concat([Buffer.from(head('deflate, chunked', 'GET /healthz')), inChunks(deflateSync('{}'))]));
    expect((await sent.answer).status).toBe(501);
    expect(await sent.closed).toBe(true);
  });

  it('answers 501 on every POST route as openapi.yaml documents it', async () => {
    const contract = await loadContract();
    const routes = ['/decide', '/access/v1/evaluation', '/access/v1/evaluations', '/access/v1/search/subject', '/access/v1/search/resource', '/access/v1/search/action'];
    for (const route of routes) {
      const sent = await send(running.port, Buffer.concat([Buffer.from(head('gzip, chunked', `POST ${route}`)), inChunks(gzipSync(decideBody))]));
      const answer = await sent.answer;
      sent.socket.destroy();
      expect(answer.status, route).toBe(501);
      const res = new Response(answer.body, { status: answer.status, headers: answer.headers });
      expect(await contract.check('POST', route, res)).toEqual([]);
    }
  });

  it.each(['chunked', 'Chunked', ' chunked '])('decides a body sent with Transfer-Encoding: %j, keeping the connection open', async (codings) => {
    const sent = await send(running.port, Buffer.concat([Buffer.from(head(codings)), inChunks(decideBody)]));
    const answer = await sent.answer;
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ decision: 'permit' });
    expect(answer.headers['connection']).toBe('keep-alive');
    sent.socket.destroy();
  });

  const unframed = {
    type: 'urn:invoice-pdp:problem:invalid_request',
    status: 400,
    detail: 'the length of the body cannot be determined: a Transfer-Encoding must end with chunked, given once, with no comma after it',
    errors: [{ path: 'Transfer-Encoding', message: 'chunked must be the last coding, given once, with no comma after it' }],
  };

  it.each([
    ['POST /decide', 'gzip'],
    ['POST /decide', 'chunked;ext=1'],
    ['POST /decide', 'gzip, chunked;ext=1'],
    ['POST /decide', ','],
    ['GET /healthz', 'gzip'],
  ])('answers %s with a Transfer-Encoding of %j, whose last coding is not chunked, 400 at path Transfer-Encoding, and closes', async (target, codings) => {
    const counted = await countedDuring(async () => {
      const sent = await send(running.port, Buffer.concat([Buffer.from(head(codings, target)), inChunks(decideBody)]));
      const answer = await sent.answer;
      expect(answer.status).toBe(400);
      expect(answer.headers['content-type']).toBe('application/problem+json');
      expect(answer.headers['x-request-id']).toBe('te-1');
      expect(answer.headers['connection']).toBe('close');
      expect(JSON.parse(answer.body)).toMatchObject({ ...unframed, requestId: 'te-1' });
      expect(await sent.closed).toBe(true);
    });
    expect(counted).toEqual({ audited: 0, decided: 0, notImplemented: 0, invalidRequest: 1 });
  });

  it.each([
    ['POST /decide', 'chunked'],
    ['GET /healthz', 'chunked'],
    ['POST /decide', 'gzip, chunked'],
  ])('answers an HTTP/1.0 %s with a Transfer-Encoding of %j 400 at path Transfer-Encoding, and answers nothing after it on a kept-alive connection', async (target, codings) => {
    const counted = await countedDuring(async () => {
      // An HTTP/1.0 intermediary knows no Transfer-Encoding: it would take the chunks for the next request.
      const head10 = head(codings, target).replace('HTTP/1.1\r\n', 'HTTP/1.0\r\nconnection: keep-alive\r\n');
      const sent = await send(running.port, Buffer.concat([Buffer.from(head10), inChunks(decideBody), Buffer.from('GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n')]));
      const answer = await sent.answer;
      let more = '';
      sent.socket.on('data', (chunk: Buffer) => (more += chunk.toString('latin1')));
      expect(answer.status).toBe(400);
      expect(answer.headers['content-type']).toBe('application/problem+json');
      expect(answer.headers['x-request-id']).toBe('te-1');
      expect(answer.headers['connection']).toBe('close');
      expect(JSON.parse(answer.body)).toMatchObject({
        type: 'urn:invoice-pdp:problem:invalid_request',
        status: 400,
        detail: 'the length of the body cannot be determined: an HTTP/1.0 request cannot have a Transfer-Encoding',
        requestId: 'te-1',
        errors: [{ path: 'Transfer-Encoding', message: 'not allowed in HTTP/1.0' }],
      });
      expect(await sent.closed).toBe(true);
      expect(more).toBe('');
    });
    expect(counted).toEqual({ audited: 0, decided: 0, notImplemented: 0, invalidRequest: 1 });
  });

  it('lets a client still sending such a body read the 400: the connection is not reset under it', async () => {
    // Goes on sending after the server's FIN, as a client writing its whole body before it reads does.
    const socket = connect({ port: running.port, host: '127.0.0.1', allowHalfOpen: true });
    const reset = new Promise<boolean>((resolve) => {
      socket.once('error', () => resolve(true));
      socket.once('close', () => resolve(false));
    });
    const answer = readResponse(socket);
    socket.write(head('gzip'));
    expect((await answer).status).toBe(400);
    for (let i = 0; i < 5; i++) {
      socket.write(inChunks(gzipSync(decideBody)));
      await pause(20);
    }
    socket.end();
    expect(await reset).toBe(false);
  });

  it.each([
    ['chunked not the last coding', 'chunked, gzip'],
    ['chunked twice', 'chunked, chunked'],
    ['a comma after chunked (an empty list member, which RFC 9110 §5.6.1 would accept)', 'chunked,'],
    ['chunked on two header lines', 'chunked\r\ntransfer-encoding: chunked'],
  ])('answers a Transfer-Encoding with %s, which Node refuses from the headers, 400 at path Transfer-Encoding, and closes', async (_, codings) => {
    const sent = await send(running.port, Buffer.concat([Buffer.from(head(codings)), inChunks(decideBody)]));
    const answer = await sent.answer;
    expect(answer.status).toBe(400);
    expect(answer.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(answer.body)).toMatchObject(unframed);
    expect(await sent.closed).toBe(true);
  });

  it.each([
    ['after it', head(`chunked\r\ncontent-length: ${decideBody.length}`)],
    ['before it', head('chunked').replace('transfer-encoding', `content-length: ${decideBody.length}\r\ntransfer-encoding`)],
  ])('answers a Transfer-Encoding with a Content-Length %s, which Node refuses from the headers, 400 at path Transfer-Encoding, and closes', async (_, requestHead) => {
    const counted = await countedDuring(async () => {
      const sent = await send(running.port, Buffer.concat([Buffer.from(requestHead), inChunks(decideBody)]));
      const answer = await sent.answer;
      expect(answer.status).toBe(400);
      expect(answer.headers['content-type']).toBe('application/problem+json');
      expect(JSON.parse(answer.body)).toMatchObject({
        type: 'urn:invoice-pdp:problem:invalid_request',
        status: 400,
        detail: 'the length of the body cannot be determined: a request cannot have both a Transfer-Encoding and a Content-Length',
        errors: [{ path: 'Transfer-Encoding', message: 'not allowed beside a Content-Length' }],
      });
      expect(await sent.closed).toBe(true);
    });
    expect(counted).toEqual({ audited: 0, decided: 0, notImplemented: 0, invalidRequest: 1 });
  });
});
