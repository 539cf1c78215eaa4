import type { IncomingMessage, RequestListener } from 'node:http';

/** What Node's HTTP server keeps on a connection's socket (internal): the parser reading it. */
interface ParsedSocket {
  readonly bytesRead: number;
  readonly parser?: { getCurrentBuffer?(): Buffer } | null;
}

/** A request line as Node's parser takes it (RFC 9112 §3, spaces repeated): method, target, protocol name, version. */
const requestLine = /^(\S+) +(\S+) +([A-Za-z]+)\/(\d\.\d)$/;

/** Requests whose request line names a protocol other than HTTP, with that protocol and version (`RTSP/1.0`). */
const otherProtocols = new WeakMap<IncomingMessage, string>();

/** A request as its request line names it: method, target and version (`GET /healthz 1.0`). */
const lineKey = (method: string, target: string, version: string): string => `${method} ${target} ${version}`;

/**
 * The request lines of `bytes` that name a protocol other than HTTP: by lineKey, the protocol and
 * version of the first such line (`RTSP/1.0`).
 */
function otherProtocolLines(bytes: Buffer): Map<string, string> {
  const lines = new Map<string, string>();
  for (const line of bytes.toString('latin1').split('\r\n')) {
    const [, method, target, protocol, version] = requestLine.exec(line) ?? [];
    if (method === undefined || target === undefined || protocol === undefined || version === undefined || protocol === 'HTTP') continue;
    const key = lineKey(method, target, version);
    if (!lines.has(key)) lines.set(key, `${protocol}/${version}`);
  }
  return lines;
}

/** A read of a connection, known by the bytes read on it once it came, and its otherProtocolLines. */
interface ReadLines {
  readonly bytesRead: number;
  readonly lines: ReadonlyMap<string, string>;
}

/**
 * The last read of each connection whose lines were looked at. Node's parser hands over every
 * request a read holds while it parses that read, the bytes read on the connection unchanged
 * meanwhile: the read's lines are looked at once for all of them. Looked at again for each, a
 * read of 1,600 pipelined HTTP/1.0 requests (64 KB) held the event loop 1.2 s.
 */
const readLines = new WeakMap<ParsedSocket, ReadLines>();

/**
 * The protocol and version `request`'s request line names when it is not HTTP, read from the bytes
 * Node's parser is reading (the read the head ends in): a line of its method, target and version
 * there. Undefined when its line is HTTP, or not in that read (a head sent over several reads).
 */
function otherProtocolRead(request: IncomingMessage): string | undefined {
  const socket = request.socket as ParsedSocket;
  let read = readLines.get(socket);
  if (read?.bytesRead !== socket.bytesRead) {
    const bytes = socket.parser?.getCurrentBuffer?.();
    if (bytes === undefined) return undefined;
    read = { bytesRead: socket.bytesRead, lines: otherProtocolLines(bytes) };
    readLines.set(socket, read);
  }
  return read.lines.get(lineKey(request.method ?? '', request.url ?? '', request.httpVersion));
}

/**
 * `listener`, with the protocol named by the request line of each request of a version other
 * than HTTP/1.1 noted first (see otherProtocolOf). Node's parser takes `RTSP/` and `ICE/` request
 * lines besides `HTTP/` and hands them on with their version alone, so that `GET /healthz
 * RTSP/1.0` looked like HTTP/1.0; it keeps the protocol to itself, so it is read from the bytes
 * the parser is reading, which only a listener called while it parses (before inTurn) can see.
 * RTSP (1.0, 2.0) and ICE (1.0) have no version 1.1: the bytes of an HTTP/1.1 request, the
 * usual one, are not read.
 */
export function readOtherProtocols(listener: RequestListener): RequestListener {
  return function onRequestOfProtocol(request, response) {
    if ((request.httpVersionMajor !== 1 || request.httpVersionMinor !== 1) && !otherProtocols.has(request)) {
      const protocol = otherProtocolRead(request);
      if (protocol !== undefined) otherProtocols.set(request, protocol);
    }
    listener(request, response);
  };
}

/** The protocol and version `request`'s request line names when it is not HTTP (`RTSP/1.0`, `ICE/1.0`), as readOtherProtocols noted it. */
export function otherProtocolOf(request: IncomingMessage): string | undefined {
  return otherProtocols.get(request);
}
