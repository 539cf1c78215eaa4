import { connect, type Socket } from 'node:net';

/** A response read off a raw socket. */
export interface RawResponse {
  readonly status: number;
  /** The reason phrase of the status line. */
  readonly reason: string;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

const interim = /^HTTP\/1\.1 1\d\d /;

function parse(received: Buffer): RawResponse | undefined {
  let buffer = received;
  let end = buffer.indexOf('\r\n\r\n');
  // Skip interim answers (100 Continue): the response is the first final one.
  while (end >= 0 && interim.test(buffer.subarray(0, 13).toString('latin1'))) {
    buffer = buffer.subarray(end + 4);
    end = buffer.indexOf('\r\n\r\n');
  }
  if (end < 0) return undefined;
  const [statusLine = '', ...lines] = buffer.subarray(0, end).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = Number(headers['content-length'] ?? NaN);
  const body = buffer.subarray(end + 4);
  if (Number.isFinite(length) && body.length < length) return undefined;
  const [, status = '', reason = ''] = /^\S+ (\d+) ?(.*)$/.exec(statusLine) ?? [];
  return { status: Number(status), reason, headers, body: body.toString('utf8') };
}

/**
 * Reads one response from `socket`: resolves once it is complete (by Content-Length),
 * rejects if the socket closes first or errors.
 */
export function readResponse(socket: Socket): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const response = parse(received);
      if (response !== undefined) {
        socket.off('data', onData);
        resolve(response);
      }
    };
    socket.on('data', onData);
    socket.on('error', reject);
    socket.once('close', () => reject(new Error(received.length === 0 ? 'connection closed without a response' : 'connection closed mid-response')));
  });
}

/** Connects to host:port (127.0.0.1 unless given); rejects with the socket error (e.g. ECONNREFUSED). */
export function connectTo(port: number, host = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** The answer to `request`, sent on a connection of its own to `port`, closed once the answer has come. */
export async function answerTo(port: number, request: string | Buffer): Promise<RawResponse> {
  const socket = await connectTo(port);
  try {
    const response = readResponse(socket);
    socket.write(request);
    return await response;
  } finally {
    socket.destroy();
  }
}

/** A POST in flight whose body is held back: the rest goes on `finish()`. */
export interface HeldRequest {
  readonly socket: Socket;
  readonly response: Promise<RawResponse>;
  finish(): void;
}

/**
 * Starts a POST of `body` to `path` and sends all but its last `holdBack` bytes. It asks
 * for `100 Continue` and resolves only once that came back, so the request is in flight
 * in the server's eyes (its headers read), whatever the load on the machine.
 */
export async function holdRequest(port: number, path: string, body: string, holdBack = 1): Promise<HeldRequest> {
  const socket = await connectTo(port);
  const bytes = Buffer.from(body);
  const cut = Math.max(0, bytes.length - holdBack);
  const response = readResponse(socket);
  response.catch(() => undefined);
  const proceed = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      if (!chunk.toString('latin1').startsWith('HTTP/1.1 100 ')) return;
      socket.off('data', onData);
      resolve();
    };
    socket.on('data', onData);
    response.then(() => reject(new Error('answered before 100 Continue')), reject);
  });
  socket.write(`POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${bytes.length}\r\nexpect: 100-continue\r\n\r\n`);
  await proceed;
  socket.write(bytes.subarray(0, cut));
  return {
    socket,
    response,
    finish: () => {
      if (socket.writable) socket.write(bytes.subarray(cut));
    },
  };
}

/** A request whose head is still arriving, a header line at a time, until `finish`. */
export interface TrickledRequest {
  readonly socket: Socket;
  readonly response: Promise<RawResponse>;
  /** Stops the trickle and sends `rest`, which ends the head. */
  finish(rest: string): void;
}

/**
 * Sends `head` (a request line and headers, each ending in CRLF), then a header line every
 * 100 ms until `finish`: a request in flight that a draining server keeps its connection open
 * for (it closes one only once it has sent nothing for a while), answered once it ends.
 */
export async function trickleRequest(port: number, head: string): Promise<TrickledRequest> {
  return trickleOn(await connectTo(port), head);
}

/** As `trickleRequest`, on a connection already open (one kept alive after an answer). */
export function trickleOn(socket: Socket, head: string): TrickledRequest {
  const response = readResponse(socket);
  response.catch(() => undefined);
  socket.write(head);
  const trickle = setInterval(() => socket.write('X-Pad: 1\r\n'), 100);
  return {
    socket,
    response,
    finish: (rest) => {
      clearInterval(trickle);
      if (socket.writable) socket.write(rest);
    },
  };
}
