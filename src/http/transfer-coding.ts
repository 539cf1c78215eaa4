import type { IncomingMessage } from 'node:http';
import { cutLength, echoed } from '../echoed-text.js';
import { ProblemError } from './problem.js';

/** The members of a Transfer-Encoding list, in the order applied, empty ones dropped (RFC 9110 §5.6.1). */
function membersOf(value: string): string[] {
  return value.split(',').map((member) => member.trim()).filter((member) => member !== '');
}

const isChunked = (member: string) => member.toLowerCase() === 'chunked';

/**
 * A request whose body has no length one can be sure of: a 400 at path `Transfer-Encoding`
 * (RFC 9112 §6.3), the connection closed. `why` completes the detail, `message` the error.
 */
function lengthUnknown(why: string, message: string): ProblemError {
  return new ProblemError('invalid_request', `the length of the body cannot be determined: ${why}`, [{ path: 'Transfer-Encoding', message }]);
}

/**
 * A Transfer-Encoding that does not end with chunked, or names it twice. Node's parser also
 * refuses an empty list member after chunked (`chunked,`), which RFC 9110 §5.6.1 has recipients
 * accept: the words say so.
 */
export const unframedBody = (): ProblemError =>
  lengthUnknown('a Transfer-Encoding must end with chunked, given once, with no comma after it', 'chunked must be the last coding, given once, with no comma after it');

/**
 * A Transfer-Encoding beside a Content-Length: the two may frame the body differently. Node's
 * parser refuses it from the headers.
 */
export const lengthAndTransferCoding = (): ProblemError =>
  lengthUnknown('a request cannot have both a Transfer-Encoding and a Content-Length', 'not allowed beside a Content-Length');

/**
 * A Transfer-Encoding in an HTTP/1.0 request: an HTTP/1.0 recipient knows no transfer coding, so
 * one in front of the service may frame its body otherwise, and RFC 9112 §6.1 has the framing
 * taken as faulty. Node would frame it by chunked and, kept alive, answer what follows it as
 * requests.
 */
const transferCodingInHttp10 = (): ProblemError => lengthUnknown('an HTTP/1.0 request cannot have a Transfer-Encoding', 'not allowed in HTTP/1.0');

/**
 * What makes the transfer codings of `request` unacceptable, if anything. Any in an HTTP/1.0
 * request is (see transferCodingInHttp10). A list whose last member is not chunked is an
 * unframed body (see unframedBody): Node refuses it too, but only
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
  return new ProblemError('not_implemented', `the transfer coding "${echoed(coding)}"${cutLength(coding)} is not supported: send the body with chunked alone, or with a Content-Length`, [
    { path: 'Transfer-Encoding', message: 'only chunked is supported' },
  ]);
}
