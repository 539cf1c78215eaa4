import { STATUS_CODES } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProblemCode } from '../src/http/problem.js';
import { startServer, type RunningServer } from '../src/http/server.js';
import { buildTestApp } from './helpers/app.js';
import { answerTo, connectTo, readResponse } from './helpers/raw-http.js';

describe('requests that cannot be read, whose headers were (a real listening socket)', () => {
  let running: RunningServer;
  const rejected: ProblemCode[] = [];
  beforeAll(async () => {
    const { app } = await buildTestApp();
    running = await startServer(app.fetch, { port: 0, hostname: '127.0.0.1', onProblem: (code) => rejected.push(code) });
  });
  afterAll(async () => {
    await running.shutdown(1_000);
  });

  it.each([
    ['an asterisk-form target with a method other than OPTIONS', 'GET * HTTP/1.1\r\nhost: 127.0.0.1', /^the request cannot be read: ./, 'request-target'],
    ['a Host that is not one', 'GET /healthz HTTP/1.1\r\nhost: a b', /^the request cannot be read: ./, 'Host'],
    ['a Host with a character no host has, which a URL takes', 'GET /healthz HTTP/1.1\r\nhost: a"b', /^the request cannot be read: ./, 'Host'],
    ['a backslash in the path', 'GET /health\\z HTTP/1.1\r\nhost: 127.0.0.1', /^the request cannot be read: ./, 'request-target'],
    ['an absolute-form target of another scheme', 'GET ftp://127.0.0.1/healthz HTTP/1.1\r\nhost: 127.0.0.1', /^the request cannot be read: ./, 'request-target'],
    // RFC 9110 §4.2.1: an http URI with an empty host is invalid. A URL parser skips the slashes
    // and takes the first segment for the host: `/healthz/admin/policies`, as any proxy reads the
    // path, was served as `/admin/policies`.
    ['an absolute-form target without a host', 'GET http:///healthz/admin/policies HTTP/1.1\r\nhost: 127.0.0.1', /^the request cannot be read: an http or https URL must name a host/, 'request-target'],
    ['an absolute-form target without a host, more slashes after', 'GET HTTPS:////healthz/readyz HTTP/1.1\r\nhost: 127.0.0.1', /^the request cannot be read: an http or https URL must name a host/, 'request-target'],
    // Named as any other method the server does not serve: the problem said nothing of where it was at fault.
    ['a CONNECT', 'CONNECT x:443 HTTP/1.1\r\nhost: x:443', /^the request cannot be read: CONNECT is not supported$/, 'method'],
  ])('answers %s 400 problem+json, echoing its X-Request-ID, and closes the connection', async (_, head, detail, path) => {
    const socket = await connectTo(running.port);
    const closed = new Promise((resolve) => socket.once('close', resolve));
    const response = readResponse(socket);
    socket.write(`${head}\r\nx-request-id: unreadable-1\r\n\r\n`);
    const answer = await response;
    expect(answer.status).toBe(400);
    expect(answer.headers['content-type']).toBe('application/problem+json');
    expect(answer.headers['x-request-id']).toBe('unreadable-1');
    expect(answer.headers['connection']).toBe('close');
    expect(JSON.parse(answer.body)).toMatchObject({ type: 'urn:invoice-pdp:problem:invalid_request', status: 400, detail: expect.stringMatching(detail), requestId: 'unreadable-1' });
    expect((JSON.parse(answer.body) as { errors?: { path: string }[] }).errors?.map((e) => e.path)).toEqual(path === undefined ? undefined : [path]);
    await closed;
  });

  it.each(['http', 'HTTP', 'Https'])('reads an absolute-form target whose scheme is written %s as the path it names', async (scheme) => {
    const socket = await connectTo(running.port);
    const response = readResponse(socket);
    socket.write(`GET ${scheme}://127.0.0.1:${running.port}/healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n`);
    expect((await response).status).toBe(200);
  });

  it('counts each unreadable request as invalid_request', () => {
    expect(rejected).toEqual(Array(8).fill('invalid_request'));
  });
});

describe('answers the server writes itself for requests Node\'s parser refuses (a real listening socket)', () => {
  let running: RunningServer;
  beforeAll(async () => {
    const { app } = await buildTestApp();
    running = await startServer(app.fetch, { port: 0, hostname: '127.0.0.1', maxHeaderBytes: 4096, headersTimeoutMs: 1_000, requestTimeoutMs: 1_000 });
  });
  afterAll(async () => {
    await running.shutdown(1_000);
  });

  it.each([
    ['a request that is not HTTP', 'HELLO THERE\r\n\r\n', 400],
    ['a Content-Length that is a list', 'POST /decide HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 5, 5\r\n\r\nhello', 400],
    ['a Transfer-Encoding beside a Content-Length', 'POST /decide HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['headers over the limit', `GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nx-padding: ${'p'.repeat(5_000)}\r\n\r\n`, 431],
    ['headers that stop part way', 'GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n', 408],
    ['a CONNECT', 'CONNECT x:443 HTTP/1.1\r\nhost: x:443\r\n\r\n', 400],
  ])('answers %s as any other answer: its standard reason phrase, a Date, problem+json, X-Request-ID, Connection: close', async (_, request, status) => {
    const answer = await answerTo(running.port, request);
    expect(answer.status).toBe(status);
    expect(answer.reason).toBe(STATUS_CODES[status]);
    // RFC 9110 §6.6.1: an origin server with a clock sends a Date in every 4xx answer.
    expect(new Date(answer.headers['date'] ?? '').getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(answer.headers['content-type']).toBe('application/problem+json');
    expect(answer.headers['connection']).toBe('close');
    expect(answer.headers['x-request-id']).toMatch(/\S/);
    expect(JSON.parse(answer.body)).toMatchObject({ status, requestId: answer.headers['x-request-id'] });
  });

  const host = 'host: 127.0.0.1\r\n';
  it.each([
    ['a method that is not one', `G@T /healthz HTTP/1.1\r\n${host}\r\n`, 'method'],
    ['a method in lower case', `get /healthz HTTP/1.1\r\n${host}\r\n`, 'method'],
    ['bytes that are not HTTP (TLS)', '\x16\x03\x01\x00\x05hello\r\n\r\n', 'method'],
    ['a NUL in the target', `GET /healthz\0 HTTP/1.1\r\n${host}\r\n`, 'request-target'],
    ['a byte over 0x7F in the target', `GET /h\xe9althz HTTP/1.1\r\n${host}\r\n`, 'request-target'],
    ['a space in the target', `GET /he lthz HTTP/1.1\r\n${host}\r\n`, 'request-target'],
    ['a version in lower case', `GET /healthz http/1.1\r\n${host}\r\n`, 'HTTP-version'],
    ['a request line ending in a bare LF', `GET /healthz HTTP/1.1\n${host}\r\n`, 'request-line'],
    ['a request line ending in a bare CR', `GET /healthz HTTP/1.1\r${host}\r\n`, 'request-line'],
    ['a space in a field name', `GET /healthz HTTP/1.1\r\n${host}x a: b\r\n\r\n`, 'x a'],
    ['a space before the colon', `GET /healthz HTTP/1.1\r\n${host}x-a : b\r\n\r\n`, 'x-a'],
    ['a NUL in a field value', `GET /healthz HTTP/1.1\r\n${host}x-a: b\0c\r\n\r\n`, 'x-a'],
    ['a control character in a field value', `GET /healthz HTTP/1.1\r\n${host}x-a: b\x01c\r\n\r\n`, 'x-a'],
    ['a field value folded onto the next line (obs-fold)', `GET /healthz HTTP/1.1\r\n${host}x-a: b\r\n c\r\n\r\n`, 'x-a'],
    ['a field line ending in a bare LF', `GET /healthz HTTP/1.1\r\n${host}x-a: b\nx-b: c\r\n\r\n`, 'x-a'],
    ['a bare CR in a field value', `GET /healthz HTTP/1.1\r\n${host}x-a: b\rc\r\n\r\n`, 'x-a'],
    ['a line without a colon', `GET /healthz HTTP/1.1\r\n${host}xab\r\n\r\n`, 'header section'],
    ['a line with no field name', `GET /healthz HTTP/1.1\r\n${host}: b\r\n\r\n`, 'header section'],
    ['whitespace before the first field', `GET /healthz HTTP/1.1\r\n ${host}\r\n`, 'header section'],
    ['a head ending in a bare LF', `GET /healthz HTTP/1.1\r\n${host}\n`, 'header section'],
  ])('answers %s 400 problem+json naming it in errors[].path', async (_, request, path) => {
    const answer = await answerTo(running.port, Buffer.from(request, 'latin1'));
    expect(answer.status).toBe(400);
    expect(answer.headers['content-type']).toBe('application/problem+json');
    expect(answer.headers['connection']).toBe('close');
    const problem = JSON.parse(answer.body) as { errors?: { path: string; message: string }[] };
    expect(problem).toMatchObject({ type: 'urn:invoice-pdp:problem:invalid_request', status: 400, detail: 'the request is not valid HTTP/1.1' });
    expect(problem.errors?.map((error) => error.path)).toEqual([path]);
    expect(problem.errors?.[0]?.message).toMatch(/\S/);
  });

  // A name is bounded by the header size limit alone: echoed whole, all of it came back in the answer.
  const longName = (length: number) => `x-${'n'.repeat(length - 2)}`;
  it.each([
    ['400: a space in it', `GET /healthz HTTP/1.1\r\n${host}${longName(3_000)} a: b\r\n\r\n`, 400, 3_002],
    ['400: a NUL in its value', `GET /healthz HTTP/1.1\r\n${host}${longName(3_000)}: b\0c\r\n\r\n`, 400, 3_000],
    ['431: headers over the limit in it', `GET /healthz HTTP/1.1\r\n${host}${longName(8_000)}: b\r\n\r\n`, 431, 8_000],
  ])('echoes the first 64 characters of a long header name at fault, and its length (%s)', async (_, request, status, length) => {
    const answer = await answerTo(running.port, request);
    expect(answer.status).toBe(status);
    const problem = JSON.parse(answer.body) as { errors?: { path: string; message: string }[] };
    expect(problem.errors?.map((error) => error.path)).toEqual([`${longName(64)}…`]);
    expect(problem.errors?.[0]?.message).toContain(`a name of ${length} characters`);
    expect(answer.body.length).toBeLessThan(1_000);
  });

  it('names the header of a field line of 60,000 spaces without holding the server (a name search in linear time)', async () => {
    // The name was searched for with a regular expression that backtracks over each space: 5.5 s for this line, the event loop held.
    const socket = await connectTo(running.port);
    const response = readResponse(socket);
    const started = performance.now();
    socket.write(`GET /healthz HTTP/1.1\r\n${host}x${' '.repeat(60_000)}\r\n\r\n`);
    const answer = await response;
    socket.destroy();
    expect(performance.now() - started).toBeLessThan(500);
    expect(answer.status).toBe(400);
    expect((JSON.parse(answer.body) as { errors?: { path: string }[] }).errors?.map((error) => error.path)).toEqual(['header section']);
  });
});
