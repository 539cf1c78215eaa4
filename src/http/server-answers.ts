import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { RequestError } from '@hono/node-server';
import { hostFieldAsUrlHost, isHostField } from '../url-host.js';
import { noStore } from './cache-control.js';
import { isLingering, queuedResponseOf, unfinishedRequestOn } from './linger.js';
import { requestIdFrom } from './middleware/request-id.js';
import { cutLength, echoed, echoedLength } from '../echoed-text.js';
import { problemBody, problemResponse, ProblemError, problemTypes, sentPath, type FieldError, type ProblemCode } from './problem.js';
import { otherProtocolOf } from './request-protocol.js';
import { lengthAndTransferCoding, transferCodingProblem, unframedBody } from './transfer-coding.js';

/** Told of every problem the server answers itself, e.g. `countRejections(metrics)`. */
export type OnProblem = ((code: ProblemCode) => void) | undefined;

interface ClientError extends Error {
  readonly code?: string;
  /** Node's parser's own words for a parse error. */
  readonly reason?: string;
  /** What the parser was given in the read it failed in, and how far into it it got. */
  readonly rawPacket?: Buffer;
  readonly bytesParsed?: number;
}

const lineEnds = 'each line ends with CRLF, with no CR or LF alone';
const targetError = { path: 'request-target', message: 'no space, control character or byte above 0x7E: percent-encode them' };
const versionError = { path: 'HTTP-version', message: 'HTTP/1.1 or HTTP/1.0' };
const methodError = { path: 'method', message: 'not a method this server knows (GET, POST, …, in capitals)' };

/**
 * A request of an HTTP version other than 1.1 and 1.0, at path `HTTP-version` (RFC 9112 §2.3):
 * of another major version (0.9, 2.0, 3.0), a 505 (RFC 9110 §15.6.6); of another minor version
 * of HTTP/1 (1.2, which Node's parser refuses), a 400.
 */
function versionProblem(version: string | undefined): ProblemError {
  const errors = [versionError];
  if (version === undefined) return new ProblemError('invalid_request', 'the HTTP version of the request line cannot be read: send HTTP/1.1 or HTTP/1.0', errors);
  const detail = `HTTP/${version} is not supported: send HTTP/1.1 or HTTP/1.0`;
  return new ProblemError(version.startsWith('1.') ? 'invalid_request' : 'http_version_not_supported', detail, errors);
}

/** The line the parser failed in, as far as the read it failed in holds it; `whole` when it starts in that read. */
interface LineAtFault {
  readonly text: string;
  readonly whole: boolean;
}

/**
 * The line the parser failed in: from its start (or the read's) to its end (or the read's). A line
 * starting with whitespace continues the field line before it (obs-fold), which is the one taken.
 * Empty when the error says nothing of where. `firstRead` when the read is the connection's
 * first, so that a line at its start is whole too.
 */
function lineAtFault(error: ClientError, firstRead = false): LineAtFault {
  const at = error.bytesParsed;
  if (error.rawPacket === undefined || at === undefined) return { text: '', whole: false };
  const packet = error.rawPacket.toString('latin1');
  let start = packet.lastIndexOf('\n', at - 1) + 1;
  while (start > 1 && /[ \t]/.test(packet.charAt(start))) start = packet.lastIndexOf('\n', start - 2) + 1;
  const end = packet.slice(at).search(/[\r\n]/);
  return { text: packet.slice(start, end === -1 ? packet.length : at + end), whole: start > 0 || firstRead };
}

/** At path the header `name` as a problem echoes it (see echoed), its length in the message when cut. */
function atHeader(name: string, message: string): FieldError {
  if (name.length <= echoedLength) return { path: name, message };
  return { path: echoed(name), message: `${message} (a name of ${name.length} characters, its first ${echoedLength} shown)` };
}

/**
 * The name of a field line: the text before its first colon, without the spaces and tabs at its
 * end; undefined when there is no colon or nothing before it. Found in one pass: the line runs
 * to the end of the read (64 KB), and a regular expression that backtracks over its spaces took
 * 5.5 s for one of 60,000.
 */
function nameOf(line: string): string | undefined {
  const colon = line.indexOf(':');
  let end = colon;
  while (end > 0 && (line[end - 1] === ' ' || line[end - 1] === '\t')) end -= 1;
  return end > 0 ? line.slice(0, end) : undefined;
}

/**
 * The header field of a field line Node's parser refuses, at path its name (see atHeader): the
 * text before the colon of the line it failed in. At path `header section` when the line has no
 * name, or began in an earlier read than the one the parser failed in (its name is gone).
 */
function fieldError(line: LineAtFault, message: string): FieldError {
  const name = line.whole ? nameOf(line.text) : undefined;
  return name === undefined || /^[ \t]/.test(line.text) ? { path: 'header section', message } : atHeader(name, message);
}

/**
 * The part of a request Node's parser refuses, by its error code and its own words: the `method`,
 * the `request-target`, the `HTTP-version`, the `request-line` as a whole (its end), or a header
 * field (see fieldError). Undefined for an error in no part of the head.
 */
function partAtFault(error: ClientError): FieldError | undefined {
  const reason = error.reason ?? '';
  const line = lineAtFault(error);
  switch (error.code) {
    case 'HPE_INVALID_METHOD':
      return methodError;
    case 'HPE_INVALID_URL':
      return targetError;
    case 'HPE_INVALID_CONSTANT':
      // A method of RTSP alone with HTTP/ (DESCRIBE), or one of HTTP alone with RTSP/ or ICE/ (GET), which are not HTTP.
      if (reason === 'Invalid method for HTTP/x.x request') return methodError;
      if (reason.endsWith('/x.x request')) return versionError;
      // Past the target, where the version should be: a space in the target puts more on the line.
      if (!reason.startsWith('Expected HTTP/')) return undefined;
      return line.text.split(' ').length > 3 ? targetError : versionError;
    case 'HPE_INVALID_VERSION':
      return { path: 'request-line', message: lineEnds };
    case 'HPE_STRICT':
      return reason.includes('after version') ? { path: 'request-line', message: lineEnds } : fieldError(line, lineEnds);
    case 'HPE_UNEXPECTED_SPACE':
      return { path: 'header section', message: 'a line starting with whitespace right after the request line (RFC 9112 §2.2)' };
    case 'HPE_CR_EXPECTED':
    case 'HPE_LF_EXPECTED':
      return fieldError(line, lineEnds);
    case 'HPE_INVALID_HEADER_TOKEN':
      if (reason === 'Invalid header value char') return fieldError(line, 'a control character (NUL, CR, DEL, …) in the value');
      if (reason === 'Unexpected whitespace after header value') return fieldError(line, 'a value folded onto a line starting with whitespace (obs-fold, RFC 9112 §5.2)');
      if (reason === 'Invalid header field char') return fieldError(line, lineEnds);
      return fieldError(line, 'not a field name (a token) followed by a colon');
    default:
      return undefined;
  }
}

/**
 * The problem of a request line whose HTTP-version Node's parser refuses; undefined when it is
 * the line's end it refuses (a CR or LF alone after the version), not the version.
 */
function refusedVersion(error: ClientError): ProblemError | undefined {
  if (error.reason?.includes('after version') === true) return undefined;
  return versionProblem(/\sHTTP\/(\d+\.\d+)$/.exec(lineAtFault(error).text)?.[1]);
}

/**
 * A request line of the method `PRI`, which Node's parser takes only as the start of the HTTP/2
 * connection preface (`PRI * HTTP/2.0`, RFC 9113 §3.4): stopping there for an HTTP/2 server to
 * take over, or refusing a line that is not the preface's. A request line of another major
 * version than 1 is a 505 as any other (a client told the service speaks HTTP/2 opens with the
 * preface); one of HTTP/1 is refused at its method, the preface's alone.
 */
function prefaceProblem(error: ClientError): ProblemError {
  const packet = error.rawPacket?.toString('latin1') ?? '';
  // The request line is the last one of the read starting with the method, before where the parser stopped.
  const start = packet.lastIndexOf('\nPRI ', error.bytesParsed ?? packet.length) + 1;
  const end = packet.slice(start).search(/[\r\n]/);
  const version = /^PRI \S+ HTTP\/(\d+\.\d+)$/.exec(packet.slice(start, end === -1 ? packet.length : start + end))?.[1];
  if (version !== undefined && !version.startsWith('1.')) return versionProblem(version);
  return new ProblemError('invalid_request', 'the request is not valid HTTP/1.1', [{ path: 'method', message: 'PRI is the method of the HTTP/2 connection preface alone (PRI * HTTP/2.0)' }]);
}

/**
 * The reason Node's parser gives a request with both a Transfer-Encoding and a Content-Length,
 * under the code of whichever of the two it met second: under HPE_INVALID_TRANSFER_ENCODING it
 * is not a Transfer-Encoding list at fault.
 */
const bothLengths = /can't be present with (Content-Length|Transfer-Encoding)/;

/**
 * A Content-Length Node's parser refuses: given more than once (even with one value), or not a
 * number of bytes (a list, a sign, past 2^64). Without it, the answer did not say which field.
 */
function badContentLength(twice: boolean): ProblemError {
  const message = twice ? 'given more than once' : 'not a number of bytes in digits, below 2^64';
  return new ProblemError('invalid_request', `the length of the body cannot be determined: Content-Length ${message}`, [{ path: 'Content-Length', message }]);
}

/**
 * How many lines of the read the parser failed in end before the point it failed at: more than
 * `maxHeaderLines` means the request has more header lines than the server takes, whatever its
 * size (the request line, when in that read, is one of them).
 */
function linesBefore(error: ClientError): number {
  const at = error.bytesParsed;
  if (error.rawPacket === undefined || at === undefined) return 0;
  let lines = 0;
  for (let end = error.rawPacket.indexOf(0x0a); end !== -1 && end < at; end = error.rawPacket.indexOf(0x0a, end + 1)) lines += 1;
  return lines;
}

/** A request of `maxHeaderLines` header lines or more (a 431), however Node told of it. */
function tooManyHeaderLines(): ProblemError {
  return new ProblemError('headers_too_large', `the request has more than the ${maxHeaderLines - 1} header lines the server accepts`, [
    { path: 'header section', message: `more than ${maxHeaderLines - 1} lines` },
  ]);
}

/**
 * Headers over the limit (a 431), at the part of the head in which they pass it (RFC 6585 §5: the
 * answer says which header field is too large): the `request-target` (the request line's only
 * part without bounds), a header line's name, or `header section` when the line began in an
 * earlier read (its name is gone). A request line has a space before any colon, a field line a
 * colon before any space.
 */
function headersTooLarge(error: ClientError, firstRead: boolean): ProblemError {
  // Node 26 (the image's release) refuses past `maxHeadersCount` lines this way, as too large,
  // where Node 20 keeps that many and drops the rest (see headProblem).
  if (linesBefore(error) > maxHeaderLines) return tooManyHeaderLines();
  const line = lineAtFault(error, firstRead);
  const message = 'the request line and headers pass the limit here';
  const requestLine = line.whole && /^[^ :]+ /.test(line.text);
  const errors = [requestLine ? { path: 'request-target', message } : fieldError(line, message)];
  return new ProblemError('headers_too_large', 'the request line and headers are larger than the server accepts', errors);
}

function clientProblem(error: ClientError, firstRead: boolean): ProblemError {
  if (bothLengths.test(error.reason ?? '')) return lengthAndTransferCoding();
  switch (error.code) {
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return badContentLength(true);
    case 'HPE_INVALID_CONTENT_LENGTH':
      return badContentLength(false);
    case 'HPE_HEADER_OVERFLOW':
      return headersTooLarge(error, firstRead);
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new ProblemError('client_timeout', 'the request was not received in time');
    case 'HPE_PAUSED_H2_UPGRADE':
      return prefaceProblem(error);
    case 'HPE_INVALID_TRANSFER_ENCODING':
      return unframedBody();
    case 'HPE_INVALID_VERSION': {
      if (error.reason === 'Expected HTTP/2 Connection Preface') return prefaceProblem(error);
      const problem = refusedVersion(error);
      if (problem !== undefined) return problem;
    }
  }
  const part = partAtFault(error);
  return new ProblemError('invalid_request', 'the request is not valid HTTP/1.1', part === undefined ? undefined : [part]);
}

/** Emits `error` on `request` if it is still listened for (an `error` without a listener would throw). */
function raise(request: IncomingMessage, error: ClientError): void {
  if (request.listenerCount('error') > 0) request.emit('error', error);
}

/**
 * Passes an error met in the body of a request the app is answering (a malformed chunk, a FIN
 * before the body's end) to the app's read of that body, which fails with it: the app answers
 * it as a body the client did not finish (see unfinishedBody), with the request's id, counted
 * once. Node would destroy the request instead, and with it the connection, so that no answer
 * could be sent. When the error comes before the app reads the body (the bad chunk came in the
 * same read as the headers), it is kept until the reader listens for errors: lost, the read
 * would wait for the request timeout. The connection closes after the answer: its parser cannot
 * go on.
 */
function handOver(response: ServerResponse, error: ClientError): void {
  response.setHeader('connection', 'close');
  const request = response.req;
  if (request.listenerCount('error') > 0) {
    request.emit('error', error);
    return;
  }
  request.on('newListener', function onNewListener(event: string | symbol) {
    if (event !== 'error') return;
    request.off('newListener', onNewListener);
    // Told before the listener is added: raised once it is.
    process.nextTick(raise, request, error);
  });
}

/**
 * Writes `problem` on `socket` as a whole response with `Connection: close`, and closes it once
 * written: the status line and headers Node writes for every other answer, its reason phrase and
 * a Date (RFC 9110 §6.6.1) included.
 */
function writeProblem(socket: Duplex, problem: ProblemError, instance: string, requestId: string): void {
  const { status } = problemTypes[problem.code];
  const body = problemBody(problem, instance, requestId);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/problem+json\r\ncache-control: ${noStore['cache-control']}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${requestId}\r\ndate: ${new Date().toUTCString()}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** Answers `error`, met before a request could be read, on `socket`, with a fresh X-Request-ID, and closes it. */
function answerOnSocket(socket: Duplex, error: ClientError, onProblem: OnProblem): void {
  const problem = clientProblem(error, (socket as Partial<Socket>).bytesRead === error.rawPacket?.length);
  onProblem?.(problem.code);
  writeProblem(socket, problem, '', randomUUID());
}

/** The response Node is writing on `socket`, or the first one queued there; undefined when none is due. */
function responseOn(socket: Duplex): ServerResponse | undefined {
  // Node's HTTP server keeps it on the socket (internal, as linger.ts relies on too).
  return (socket as { _httpMessage?: ServerResponse | null })._httpMessage ?? undefined;
}

/**
 * Calls `then` once every answer due on `socket` is written (the one Node is writing, then each
 * queued behind it), so that what `then` writes follows them: answers go out in the order of
 * their requests. `then` is not called after an answer that closes the connection: nothing is
 * after it.
 */
function afterAnswersDue(socket: Duplex, then: () => void): void {
  const response = responseOn(socket);
  if (response === undefined) {
    if (socket.writable) then();
    return;
  }
  // Node's own listener, added before any other, has by then given the socket to the next
  // response queued, or closed it.
  response.once('finish', () => afterAnswersDue(socket, then));
}

/** Sockets whose parser has failed and whose error is answered or handed over: Node reports it again with each read that follows. */
const failed = new WeakSet<Duplex>();

/** Requests the server has answered itself from their head (see refuse), closing the connection. */
const refusedFromHead = new WeakSet<IncomingMessage>();

/**
 * Answers requests Node rejects before Hono sees them (headers too large, a malformed
 * request line, a client too slow) with a problem+json body, as every other error is, and
 * a fresh X-Request-ID: no request could be read to take one from. An error in the body of a
 * request the app is answering is left to the app (see handOver); one in a request pipelined
 * behind answers still due is answered after them (see afterAnswersDue).
 */
export function answerClientError(onProblem: OnProblem) {
  return function onClientError(error: ClientError, socket: Duplex): void {
    // Dropping the rest of a refused body: whatever it holds, the linger closes the connection.
    if (isLingering(socket)) return;
    // Node's own handler makes the same check: nothing to say to a socket that is gone.
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    if (failed.has(socket)) return;
    const response = responseOn(socket);
    // The parser's verdict on a request the server has refused from its head (a Transfer-Encoding
    // whose last coding is not chunked comes right after the head): the refusal says enough,
    // and lingers once written, as after any refusal of a body still arriving.
    if (response !== undefined && refusedFromHead.has(response.req)) {
      failed.add(socket);
      return;
    }
    // A request pipelined behind the one being answered, its body half read: its own answer says so.
    const queued = queuedResponseOf(socket);
    if (queued !== undefined) {
      failed.add(socket);
      handOver(queued, error);
    } else if (response === undefined) {
      // In the body of a request already answered without reading it (a GET with a body):
      // there is no request left to answer, and the connection cannot go on.
      if (unfinishedRequestOn(socket) !== undefined) socket.destroy();
      else answerOnSocket(socket, error, onProblem);
    } else if (response.req.complete) {
      failed.add(socket);
      afterAnswersDue(socket, () => answerOnSocket(socket, error, onProblem));
    } else if (!response.headersSent) {
      failed.add(socket);
      handOver(response, error);
    } else {
      // No second status line once a response has started.
      socket.destroy();
    }
  };
}

/**
 * The request whose listener is running: @hono/node-server calls its errorHandler from within,
 * before its first await, for a request it cannot turn into a web Request (see refuseBadHeads).
 */
let beingRead: IncomingMessage | undefined;

/** The caller's X-Request-ID when it can be echoed (see requestIdFrom), a fresh one otherwise. */
function requestIdOf(request: IncomingMessage): string {
  const given = request.headers['x-request-id'];
  return requestIdFrom(typeof given === 'string' ? given : undefined, request);
}

/**
 * The field at fault in a request @hono/node-server cannot read: the Host when the target is
 * origin-form (`/path`) without a backslash in its path, so the Host is all that fails to make a
 * URL (`a:99999`, `[v1.x]`); the request target otherwise (`*`, a backslash in the path, a scheme
 * other than http and https).
 */
function fieldAtFault(request: IncomingMessage | undefined): FieldError[] | undefined {
  if (request === undefined) return undefined;
  const target = request.url ?? '';
  if (!target.startsWith('/') || sentPath(target).includes('\\')) {
    return [{ path: 'request-target', message: 'a path (/decide), or an http:// or https:// URL, without a backslash in its path' }];
  }
  return [{ path: 'Host', message: 'not a host name or address a URL can hold (WHATWG URL)' }];
}

/**
 * Answers a request @hono/node-server cannot turn into a web Request (a Host header no URL
 * holds, at path `Host`; a request target with a backslash or another scheme) with a
 * problem+json body too, echoing its X-Request-ID (its headers were read): left to it, the
 * answer is a bare 400 with no body.
 */
export function answerRequestError(onProblem: OnProblem) {
  return function onRequestError(error: unknown): Response {
    const close = { connection: 'close' };
    const problem = error instanceof RequestError
      ? new ProblemError('invalid_request', `the request cannot be read: ${error.message}`, fieldAtFault(beingRead), close)
      : new ProblemError('internal', 'the request could not be answered', undefined, close);
    onProblem?.(problem.code);
    return problemResponse(problem, '', beingRead === undefined ? randomUUID() : requestIdOf(beingRead));
  };
}

/**
 * The server's `connect` listener: a CONNECT (this is no proxy) is answered 400 problem+json at
 * path `method`, echoing its X-Request-ID, as other requests that cannot be read; Node would close the
 * connection without a word. Node hands the socket over as soon as it has parsed the CONNECT,
 * its parser and timeouts gone, while requests pipelined before it may still be answered: their
 * responses keep the socket and are written as usual, and the 400 follows them (none follows
 * one that closes the connection), then the connection closes. Until then what the client still
 * sends is read and dropped: left unread, it would turn the close into a reset, which discards
 * answers the client has not read yet. Node takes its stall timeout (the server's `timeout`) off
 * the socket with it: put back, a client that sends requests and a CONNECT and reads none of the
 * answers has its connection closed once nothing moves on it, as without the CONNECT; it was
 * held open for good.
 */
export function refuseConnect(onProblem: OnProblem) {
  return function onConnect(this: Server, request: IncomingMessage, socket: Socket): void {
    socket.on('error', () => socket.destroy());
    socket.setTimeout(this.timeout, () => socket.destroy());
    socket.resume();
    afterAnswersDue(socket, () => {
      const problem = new ProblemError('invalid_request', 'the request cannot be read: CONNECT is not supported', [{ path: 'method', message: 'CONNECT is not supported: this service is no proxy' }]);
      onProblem?.(problem.code);
      socket.once('finish', () => socket.destroy());
      writeProblem(socket, problem, '', requestIdOf(request));
    });
  };
}

/** Answers `request` with `problem` from the server itself, echoing its X-Request-ID, and closes the connection. */
function refuse(request: IncomingMessage, response: ServerResponse, problem: ProblemError, onProblem: OnProblem): void {
  refusedFromHead.add(request);
  onProblem?.(problem.code);
  const requestId = requestIdOf(request);
  const body = problemBody(problem, sentPath(request.url ?? ''), requestId);
  response.writeHead(problemTypes[problem.code].status, {
    'content-type': 'application/problem+json',
    ...noStore,
    'content-length': Buffer.byteLength(body),
    'x-request-id': requestId,
    connection: 'close',
  });
  response.end(body);
}

/**
 * Most header lines a request may have (the server's `maxHeadersCount`). Node 20's parser keeps
 * this many and drops the rest without a word: a request whose `Authorization` came after 1,000
 * other lines was answered as if it had none. Node 26's refuses more as a header overflow, which
 * it also calls a head over the size limit (see headersTooLarge).
 */
export const maxHeaderLines = 1000;

/** How many of `request`'s header lines are named `name` (lower case). */
function linesNamed(request: IncomingMessage, name: string): number {
  let count = 0;
  for (let i = 0; i < request.rawHeaders.length; i += 2) if (request.rawHeaders[i]?.toLowerCase() === name) count += 1;
  return count;
}

/**
 * The problem of a request that is not HTTP/1.1, if any: one whose request line names another
 * protocol (RFC 9112 §2.3: the version is `HTTP/` DIGIT "." DIGIT; `RTSP/1.0`, `ICE/1.0`, which
 * Node's parser takes), a 400 as for any invalid request line (RFC 9112 §3); one of HTTP
 * other than 1.0, a 505 (see versionProblem). Node's parser takes HTTP/2.0 and 0.9 (a request
 * line without a version, or one with headers after it) and hands them on as if 1.x: a decision
 * for a 2.0 request line, a page for a 0.9 one, and a body framed by headers whose versions do
 * not have them.
 */
function notHttp11Problem(request: IncomingMessage): ProblemError | undefined {
  const protocol = otherProtocolOf(request);
  if (protocol !== undefined) return new ProblemError('invalid_request', `${protocol} is not HTTP: send HTTP/1.1 or HTTP/1.0`, [versionError]);
  return request.httpVersionMajor === 1 && request.httpVersionMinor === 0 ? undefined : versionProblem(request.httpVersion);
}

/**
 * An absolute-form target (`HTTP://host/decide`, as a proxy may send) with its scheme in lower
 * case: schemes are case-insensitive (RFC 3986 §3.1), and @hono/node-server reads only `http://`
 * and `https://` as one, failing the rest as an invalid URL.
 */
function withLowerCaseScheme(target: string): string {
  const scheme = /^https?(?=:\/\/)/i.exec(target)?.[0];
  return scheme === undefined ? target : scheme.toLowerCase() + target.slice(scheme.length);
}

/**
 * An absolute-form target whose authority is empty (`http:///healthz/admin/policies`). RFC 9110
 * §4.2.1 makes such an http URI invalid, to be rejected; a URL parser instead skips the slashes and
 * takes the first segment for the host, so the path served (`/admin/policies`) was not the one a
 * proxy in front reads in the same target (`/healthz/admin/policies`).
 */
const hostless = /^https?:\/\/(?:[/?#]|$)/i;

const hostlessProblem = new ProblemError('invalid_request', 'the request cannot be read: an http or https URL must name a host (RFC 9110 §4.2.1)', [
  { path: 'request-target', message: 'an absolute-form target with an empty host' },
]);

/**
 * A Host @hono/node-server takes as it is written (its own test: a name or IPv4 address in lower
 * case, no port or one of four or five digits), as most requests' is. Of any other, it refuses
 * one the WHATWG URL parser writes otherwise than in lower case and without its port, valid as
 * it is (RFC 3986 §3.2.2: `[::0]:8080`, `[0:0:0:0:0:0:0:1]`, `localhost:`, `loc%61lhost`).
 */
const plainHost = /^[a-z0-9._-]+(?::(?:[1-5]\d{3,4}|[6-9]\d{3}))?$/;

/**
 * What makes the head of `request` unacceptable before any route sees it, if anything;
 * `unusualHost` when its Host is not a `plainHost`, the only one whose syntax is checked.
 */
function headProblem(request: IncomingMessage, unusualHost: boolean): ProblemError | undefined {
  if (request.httpVersionMajor !== 1 || request.httpVersionMinor !== 1) {
    const problem = notHttp11Problem(request);
    if (problem !== undefined) return problem;
  }
  if (request.rawHeaders.length >= 2 * maxHeaderLines) return tooManyHeaderLines();
  if (request.headers.host === undefined) {
    if (request.httpVersionMajor === 1 && request.httpVersionMinor === 1) {
      return new ProblemError('invalid_request', 'an HTTP/1.1 request must have a Host header', [{ path: 'Host', message: 'required' }]);
    }
  } else if (linesNamed(request, 'host') > 1) {
    // RFC 9112 §3.2: a proxy that took the other one would disagree on the target.
    return new ProblemError('invalid_request', 'a request must have one Host header', [{ path: 'Host', message: 'given more than once' }]);
  } else if (unusualHost && !isHostField(request.headers.host)) {
    // RFC 9112 §3.2 (a 400); a URL parser would take some (`a"b`, `{a}`) and name the service by them.
    return new ProblemError('invalid_request', 'the request cannot be read: the Host is not a host name or address with an optional port', [
      { path: 'Host', message: 'not uri-host[:port] (RFC 9110 §7.2, RFC 3986 §3.2.2)' },
    ]);
  }
  return transferCodingProblem(request);
}

/** Whether `request` declares a body: a Transfer-Encoding, or a Content-Length other than 0. */
function declaresBody(request: IncomingMessage): boolean {
  return request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length'] ?? 0) > 0;
}

/**
 * Answers `OPTIONS *`, the one request the asterisk-form target is for (RFC 9112 §3.2.4): it asks
 * about the server as a whole, a ping some health checkers send (RFC 9110 §9.3.7). No URL holds
 * `*`, so @hono/node-server failed it as a request target it cannot read: a 400 to a well-formed
 * request, and a backend such a checker marked down. Answered 200 with no content (a
 * Content-Length of 0, as §9.3.7 requires), echoing its X-Request-ID; one with a body closes the
 * connection once the rest is read and dropped, as any answer that leaves a body unread.
 */
function answerServerOptions(request: IncomingMessage, response: ServerResponse): void {
  response.setHeader('x-request-id', requestIdOf(request));
  response.setHeader('content-length', 0);
  if (declaresBody(request)) response.setHeader('connection', 'close');
  response.end();
}

/**
 * `listener`, with requests whose head is unacceptable answered problem+json: one of an HTTP
 * version other than 1.1 and 1.0 (2.0 or 0.9, which Node's parser takes), a 505, and one of
 * another protocol (RTSP, ICE: see readOtherProtocols), a 400; an HTTP/1.1 request without a Host header, with
 * more than one, or with one that is not a host (RFC 9112 §3.2), a 400; one with more header lines than Node keeps, a 431; one
 * whose body cannot be framed, a 400, and one with a transfer coding other than chunked, a 501
 * (see transferCodingProblem). Node's own Host check
 * (`requireHostHeader`, to be turned off) answers with a bare 400 before any listener sees the
 * request. A Host in a spelling of its own is handed on as a URL writes it (see plainHost).
 * `OPTIONS *` is answered here too (see answerServerOptions), and an absolute-form target with an
 * empty host refused, a 400 (see hostless). While `listener` runs,
 * the request is the one answerRequestError takes an X-Request-ID from.
 */
export function refuseBadHeads(listener: RequestListener, onProblem: OnProblem): RequestListener {
  return function onRequest(request, response) {
    const host = request.headers.host;
    // Tested once: most requests' Host is plain, and needs neither a syntax check nor rewriting.
    const unusualHost = host !== undefined && !plainHost.test(host);
    const problem = headProblem(request, unusualHost);
    if (problem !== undefined) {
      refuse(request, response, problem, onProblem);
      return;
    }
    // @hono/node-server builds the request's URL from this Host.
    if (unusualHost) request.headers.host = hostFieldAsUrlHost(host);
    // The usual origin-form target (`/decide`) costs one comparison.
    if (request.url !== undefined && !request.url.startsWith('/')) {
      if (request.url === '*' && request.method === 'OPTIONS') {
        answerServerOptions(request, response);
        return;
      }
      if (hostless.test(request.url)) {
        refuse(request, response, hostlessProblem, onProblem);
        return;
      }
      request.url = withLowerCaseScheme(request.url);
    }
    beingRead = request;
    try {
      listener(request, response);
    } finally {
      beingRead = undefined;
    }
  };
}

/** The members of the Expect field of `request`, in lower case, empty ones dropped (RFC 9110 §5.6.1). */
function expectationsOf(request: IncomingMessage): string[] {
  return (request.headers.expect ?? '').split(',').map((member) => member.trim().toLowerCase()).filter((member) => member !== '');
}

/**
 * The server's `checkContinue` and `checkExpectation` listener, which passes the requests it
 * accepts on to `serve`. Node sends there a request whose Expect holds `100-continue` anywhere,
 * even beside another member or inside one (`x-100-continue`), and one whose Expect holds
 * anything else, an empty list included. Taken member by member (RFC 9110 §10.1.1): a request
 * with any member other than `100-continue` is answered 417 problem+json, at path `Expect`
 * (Node's own answer is a bare 417, and `100-continue, 200-ok` was served); one with no member
 * expects nothing and is served as any other (it was a 417). For `100-continue`, the
 * `100 Continue` goes out only once the app starts reading the body: a request it refuses first
 * (a 413 judged on Content-Length, a 401, a 415) is answered without the body being sent, and
 * Node closes the connection after such an answer.
 */
export function meetExpectations(serve: RequestListener, onProblem: OnProblem): RequestListener {
  return function onExpectation(request, response) {
    const members = expectationsOf(request);
    if (members.some((member) => member !== '100-continue')) {
      const expectation = request.headers.expect ?? '';
      refuse(request, response, new ProblemError('expectation_failed', `cannot meet "Expect: ${echoed(expectation)}"${cutLength(expectation)}`, [{ path: 'Expect', message: 'only 100-continue is supported' }]), onProblem);
      return;
    }
    if (members.length > 0) {
      request.once('resume', () => {
        if (!response.headersSent) response.writeContinue();
      });
    }
    serve(request, response);
  };
}
