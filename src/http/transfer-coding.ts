import type { IncomingMessage } from 'node:http';
import { ProblemError } from './problem.js';

/** The members of a Transfer-Encoding list, in the order applied, empty ones dropped (RFC 9110 §5.6.1). */
function membersOf(value: string): string[] {
  return value.split(',').map((member) => member.trim()).filter((member) => member !== '');
}

const isChunked = (member: string) => member.toLowerCase() === 'chunked';

/**
 * What makes the transfer codings of `request` unacceptable, if anything: one other than
 * chunked (gzip, deflate, compress, a coding unknown) is a 501 (RFC 9112 §6.1), as this service
 * decodes none. Node frames the body by its final chunked alone and would hand the app the
 * bytes still gzipped, say. A list whose final member is not chunked, Node refuses itself.
 */
export function transferCodingProblem(request: IncomingMessage): ProblemError | undefined {
  const value = request.headers['transfer-encoding'];
  if (value === undefined) return undefined;
  const members = membersOf(value);
  const last = members.pop();
  if (last === undefined || !isChunked(last)) return undefined;
  const other = members.find((member) => !isChunked(member));
  if (other === undefined) return undefined;
  const coding = other.split(';')[0]?.trim() ?? other;
  return new ProblemError('not_implemented', `the transfer coding "${coding}" is not supported: send the body with chunked alone, or with a Content-Length`, [
    { path: 'Transfer-Encoding', message: 'only chunked is supported' },
  ]);
}
