/**
 * What a bounded fetch read: status, media type (lower case, no parameters) and body bytes (see
 * `bodyText`), read only for a `200`, the one answer a key set or introspection endpoint gives.
 */
export interface BoundedResponse {
  readonly status: number;
  readonly mediaType: string;
  readonly body: Buffer;
}

export interface BoundedFetchOptions {
  /** Whole exchange, connect to last byte, milliseconds. */
  readonly timeoutMs: number;
  readonly maxBytes: number;
}

/** A failure to get a usable answer from a key set or introspection endpoint. */
export class UpstreamError extends Error {
  override readonly name: string = 'UpstreamError';
}

/**
 * A `200` whose body is over the cap, with its media type. A key set is one document for every
 * token, so one too large is its server's failure; an introspection answer is one token's, and
 * one of the type asked for is too large for that token alone (a user with a very large profile).
 */
export class AnswerTooLargeError extends UpstreamError {
  override readonly name: string = 'AnswerTooLargeError';

  constructor(
    readonly maxBytes: number,
    readonly mediaType: string,
  ) {
    super(`answer larger than ${maxBytes} bytes`);
  }
}

/** Network error codes worth a word; any other code is named as it comes. */
const failures: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'unreachable: connection refused',
  ENOTFOUND: 'unreachable: host not found',
  EAI_AGAIN: 'unreachable: host not found',
  EHOSTUNREACH: 'unreachable: host unreachable',
  ENETUNREACH: 'unreachable: network unreachable',
  ETIMEDOUT: 'unreachable: connect timed out',
  UND_ERR_CONNECT_TIMEOUT: 'unreachable: connect timed out',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection reset',
  UND_ERR_SOCKET: 'connection closed before the answer was complete',
};

/** A Node or undici error code: only such a constant is quoted, never free text. */
const errorCode = /^[A-Z][A-Z0-9_]{1,63}$/;

/**
 * What went wrong, in words of our own. The messages of fetch and of the errors under it can
 * quote the URL, credentials and query values included, and this text reaches callers (deny
 * reasons), the audit log and the application log: only our words and the error's code go in.
 */
function reason(error: unknown, timeoutMs: number): string {
  if (error instanceof UpstreamError) return error.message;
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return `no answer within ${timeoutMs} ms`;
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  const code = typeof cause?.code === 'string' && errorCode.test(cause.code) ? cause.code : undefined;
  if (code === undefined) return 'request failed';
  const words = failures[code] ?? (code.startsWith('HPE_') ? 'answered something that is not HTTP' : /CERT|SSL|TLS|SIGNATURE/.test(code) ? 'TLS failed' : 'request failed');
  return `${words} (${code})`;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The body of an answer as text. Key sets and introspection answers are JSON, which is UTF-8
 * (RFC 8259 §8.1): decoded leniently, bytes of another encoding became U+FFFD, a Latin-1 `José`
 * and `Josè` one subject id, `Jos\uFFFD`. Throws UpstreamError for bytes that are not UTF-8. A
 * byte order mark is kept, and then refused as no JSON begins with it. Read once the status is
 * known to be the one wanted: a failure's page, in whatever encoding, is told by its status.
 */
export function bodyText(response: BoundedResponse): string {
  try {
    return utf8.decode(response.body);
  } catch {
    throw new UpstreamError('answered text that is not UTF-8');
  }
}

async function readBody(body: ReadableStream<Uint8Array> | null, maxBytes: number, mediaType: string): Promise<Buffer> {
  if (body === null) return Buffer.alloc(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new AnswerTooLargeError(maxBytes, mediaType);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/**
 * fetch with a deadline over the whole exchange (a server that sends headers and then stalls
 * cannot hang us), a cap on the body size and no redirects. The body of any answer but a `200` is
 * left unread: a failure is told by its status, and a proxy's error page or a login page redirected
 * to, longer than the cap, read as `answer larger than …` where it was `answered HTTP 503`. Throws
 * UpstreamError, whose message never quotes the URL: AnswerTooLargeError for a body over the cap.
 */
export async function fetchBounded(url: string, init: RequestInit, options: BoundedFetchOptions): Promise<BoundedResponse> {
  const signal = AbortSignal.timeout(options.timeoutMs);
  try {
    // A redirect is not followed but handed back, so it reads as "answered HTTP 302".
    const response = await fetch(url, { ...init, signal, redirect: 'manual' });
    const mediaType = (response.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    if (response.status !== 200) {
      // The status tells the failure: a page cut off meanwhile changes nothing.
      await response.body?.cancel().catch(() => undefined);
      return { status: response.status, mediaType, body: Buffer.alloc(0) };
    }
    return { status: response.status, mediaType, body: await readBody(response.body, options.maxBytes, mediaType) };
  } catch (error) {
    if (error instanceof AnswerTooLargeError) throw error;
    throw new UpstreamError(reason(error, options.timeoutMs), { cause: error });
  }
}
