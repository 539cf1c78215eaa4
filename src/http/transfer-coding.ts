import type { IncomingMessage } from 'node:http';
import { ProblemError } from './problem.js';

/** The members of a Transfer-Encoding list, in the order applied, empty ones dropped (RFC 9110 §5.6.1). */
function membersOf(value: string): string[] {
  return value.split(',').map((member) => member.trim()).filter((member) => member !== '');
}

const isChunked = (member: string) => member.toLowerCase() === 'chunked';

/**
 * A request whose Transfer-Encoding does not end with chunked, or names it twice: the length of
 * its body cannot be determined, a 400 (RFC 9112 §6.3), the connection closed.
 */
export function unframedBody(): ProblemError {
  return new ProblemError('invalid_request', 'the length of the body cannot be determined: a Transfer-Encoding must end with chunked, given once', [
    { path: 'Transfer-Encoding', message: 'chunked must be the last coding, given once' },
  ]);
}

/**
 * A request with both a Transfer-Encoding and a Content-Length: the two may frame its body
 * differently, a 400 (RFC 9112 §6.3), the connection closed. Node's parser refuses it from the
 * headers.
 */
export function lengthAndTransferCoding(): ProblemError {
  return new ProblemError('invalid_request', 'the length of the body cannot be determined: a request cannot have both a Transfer-Encoding and a Content-Length', [
    { path: 'Transfer-Encoding', message: 'not allowed beside a Content-Length' },
  ]);
}

/**
 * An HTTP/1.0 request with a Transfer-Encoding: an HTTP/1.0 recipient knows no transfer coding,
 * so one in front of the service may frame its body otherwise; RFC 9112 §6.1 has the framing
 * taken as faulty, a 400, the connection closed. Node would frame it by chunked and, kept alive,
 * answer what follows it as requests.
 */
function transferCodingInHttp10(): ProblemError {
  return new ProblemError('invalid_request', 'the length of the body cannot be determined: an HTTP/1.0 request cannot have a Transfer-Encoding', [
    { path: 'Transfer-Encoding', message: 'not allowed in HTTP/1.0' },
  ]);
}

/**
 * What makes the transfer codings of `request` unacceptable, if anything. Any in an HTTP/1.0
 * request is (see transferCodingInHttp10). A list whose last
 * member is not chunked is an unframed body (see unframedBody): Node refuses it too, but only
 * once the request has gone on to the app, which may answer it first (a GET). A coding other
 * than chunked (gzip, deflate, compress, one unknown) before it is a 501 (RFC 9112 §6.1), as
 * this service decodes none: Node frames the body by its last chunked alone and would hand the
 * app the bytes still gzipped, say. One with chunked twice Node refuses before any listener sees
 * it (see clientProblem).
 */
export function transferCodingProblem(request: IncomingMessage): ProblemError | undefined {
  const value = request.headers['transfer-encoding'];
  if (value === undefined) return undefined;
  if (request.httpVersionMajor === 1 && request.httpVersionMinor === 0) return transferCodingInHttp10();
  const members = membersOf(value);
  const last = members.pop();
  if (last === undefined || !isChunked(last)) return unframedBody();
  const other = members.find((member) => !isChunked(member));
  if (other === undefined) return undefined;
  const coding = other.split(';')[0]?.trim() ?? other;
  return new ProblemError('not_implemented', `the transfer coding "${coding}" is not supported: send the body with chunked alone, or with a Content-Length`, [
    { path: 'Transfer-Encoding', message: 'only chunked is supported' },
  ]);
}
