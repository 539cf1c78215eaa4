import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { RequestError } from '@hono/node-server';
import { isLingering } from './linger.js';
import { requestIdFrom } from './middleware/request-id.js';
import { problemBody, problemResponse, ProblemError, problemTypes, type ProblemCode } from './problem.js';

/** Told of every problem the server answers itself, e.g. `countRejections(metrics)`. */
export type OnProblem = ((code: ProblemCode) => void) | undefined;

interface ClientError extends Error {
  readonly code?: string;
}

function clientProblem(error: ClientError): ProblemError {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return new ProblemError('headers_too_large', 'the request line and headers are larger than the server accepts');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new ProblemError('client_timeout', 'the request was not received in time');
    default:
      return new ProblemError('invalid_request', 'the request is not valid HTTP/1.1');
  }
}

/**
 * Passes an error met in the body of a request the app is answering (a malformed chunk, a FIN
 * before the body's end) to the app's read of that body, which fails with it: the app answers
 * it as a body the client did not finish (see unfinishedBody), with the request's id, counted
 * once. Node would destroy the request instead, and with it the connection, so that no answer
 * could be sent. The connection closes after the answer: its parser cannot go on.
 */
function handOver(response: ServerResponse, error: ClientError): void {
  response.setHeader('connection', 'close');
  const request = response.req;
  if (!request.complete && request.listenerCount('error') > 0) request.emit('error', error);
}

/**
 * Answers requests Node rejects before Hono sees them (headers too large, a malformed
 * request line, a client too slow) with a problem+json body, as every other error is, and
 * a fresh X-Request-ID: no request could be read to take one from. An error in the body of a
 * request the app is answering is left to the app (see handOver).
 */
export function answerClientError(onProblem: OnProblem) {
  return function onClientError(error: ClientError, socket: Duplex): void {
    // Dropping the rest of a refused body: whatever it holds, the linger closes the connection.
    if (isLingering(socket)) return;
    const response = (socket as { _httpMessage?: ServerResponse | null })._httpMessage ?? undefined;
    if (error.code !== 'ECONNRESET' && socket.writable && response?.headersSent === false) {
      handOver(response, error);
      return;
    }
    // Node's own handler makes the same checks: nothing to say to a socket that is gone, and no
    // second status line once a response has started.
    if (error.code === 'ECONNRESET' || !socket.writable || response !== undefined) {
      socket.destroy();
      return;
    }
    const problem = clientProblem(error);
    onProblem?.(problem.code);
    const { status, title } = problemTypes[problem.code];
    const requestId = randomUUID();
    const body = problemBody(problem, '', requestId);
    socket.end(
      `HTTP/1.1 ${status} ${title}\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`,
    );
  };
}

/**
 * Answers a request @hono/node-server cannot turn into a web Request (a Host header that is not
 * a host, a request target with a backslash or another scheme) with a problem+json body too:
 * left to it, the answer is a bare 400 with no body.
 */
export function answerRequestError(onProblem: OnProblem) {
  return function onRequestError(error: unknown): Response {
    const close = { connection: 'close' };
    const problem = error instanceof RequestError
      ? new ProblemError('invalid_request', `the request cannot be read: ${error.message}`, undefined, close)
      : new ProblemError('internal', 'the request could not be answered', undefined, close);
    onProblem?.(problem.code);
    return problemResponse(problem, '', randomUUID());
  };
}

/** The path of an origin-form request target (`/decide?explain=true` → `/decide`), as the app names it; empty for any other form. */
function pathOf(target: string | undefined): string {
  if (target?.startsWith('/') !== true) return '';
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
}

/** Answers `request` with `problem` from the server itself, echoing its X-Request-ID, and closes the connection. */
function refuse(request: IncomingMessage, response: ServerResponse, problem: ProblemError, onProblem: OnProblem): void {
  onProblem?.(problem.code);
  const given = request.headers['x-request-id'];
  const requestId = requestIdFrom(typeof given === 'string' ? given : undefined);
  const body = problemBody(problem, pathOf(request.url), requestId);
  response.writeHead(problemTypes[problem.code].status, {
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(body),
    'x-request-id': requestId,
    connection: 'close',
  });
  response.end(body);
}

/**
 * `listener`, with HTTP/1.1 requests that lack a Host header (RFC 9112 §3.2) answered 400
 * problem+json. Node's own check (`requireHostHeader`, to be turned off) answers them with a
 * bare 400 before any listener sees the request.
 */
export function requireHost(listener: RequestListener, onProblem: OnProblem): RequestListener {
  return function onRequest(request, response) {
    if (request.headers.host === undefined && request.httpVersionMajor === 1 && request.httpVersionMinor === 1) {
      refuse(request, response, new ProblemError('invalid_request', 'an HTTP/1.1 request must have a Host header', [{ path: 'Host', message: 'required' }]), onProblem);
      return;
    }
    listener(request, response);
  };
}

/**
 * The server's `checkExpectation` listener: an `Expect` other than `100-continue` is answered
 * 417 problem+json (Node's own answer is a bare 417).
 */
export function refuseExpectation(onProblem: OnProblem): RequestListener {
  return function onCheckExpectation(request, response) {
    const expectation = request.headers.expect ?? '';
    refuse(request, response, new ProblemError('expectation_failed', `cannot meet "Expect: ${expectation}"`, [{ path: 'Expect', message: 'only 100-continue is supported' }]), onProblem);
  };
}
