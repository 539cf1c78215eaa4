/** What a bounded fetch read: status, media type (lower case, no parameters) and body text. */
export interface BoundedResponse {
  readonly status: number;
  readonly mediaType: string;
  readonly text: string;
}

export interface BoundedFetchOptions {
  /** Whole exchange, connect to last byte, milliseconds. */
  readonly timeoutMs: number;
  readonly maxBytes: number;
}

/** A failure to get a usable answer from a key set or introspection endpoint. */
export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
}

function reason(error: unknown, timeoutMs: number): string {
  if (error instanceof UpstreamError) return error.message;
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return `no answer within ${timeoutMs} ms`;
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  if (typeof cause?.code === 'string') return `unreachable (${cause.code})`;
  return `unreachable (${error instanceof Error ? error.message : String(error)})`;
}

async function readText(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<string> {
  if (body === null) return '';
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new UpstreamError(`answer larger than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * fetch with a deadline over the whole exchange (a server that sends headers and then stalls
 * cannot hang us), a cap on the body size and no redirects. Throws UpstreamError.
 */
export async function fetchBounded(url: string, init: RequestInit, options: BoundedFetchOptions): Promise<BoundedResponse> {
  const signal = AbortSignal.timeout(options.timeoutMs);
  try {
    const response = await fetch(url, { ...init, signal, redirect: 'error' });
    const text = await readText(response.body, options.maxBytes);
    const mediaType = (response.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    return { status: response.status, mediaType, text };
  } catch (error) {
    throw new UpstreamError(reason(error, options.timeoutMs), { cause: error });
  }
}
