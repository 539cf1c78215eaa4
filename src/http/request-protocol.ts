import type { IncomingMessage, RequestListener } from 'node:http';

/** What Node's HTTP server keeps on a connection's socket (internal): the parser reading it. */
interface ParsedSocket {
  readonly parser?: { getCurrentBuffer?(): Buffer } | null;
}

/** A request line as Node's parser takes it (RFC 9112 §3, spaces repeated): method, target, protocol name, version. */
const requestLine = /^(\S+) +(\S+) +([A-Za-z]+)\/(\d\.\d)$/;

/** Requests whose request line names a protocol other than HTTP, with that protocol and version (`RTSP/1.0`). */
const otherProtocols = new WeakMap<IncomingMessage, string>();

/**
 * The protocol and version `request`'s request line names when it is not HTTP, read from the bytes
 * Node's parser is reading (the read the head ends in): a line of its method, target and version
 * there. Undefined when its line is HTTP, or not in that read (a head sent over several reads).
 */
function otherProtocolRead(request: IncomingMessage): string | undefined {
  const bytes = (request.socket as ParsedSocket).parser?.getCurrentBuffer?.();
  if (bytes === undefined) return undefined;
  for (const line of bytes.toString('latin1').split('\r\n')) {
    const [, method, target, protocol, version] = requestLine.exec(line) ?? [];
    if (protocol !== undefined && protocol !== 'HTTP' && method === request.method && target === request.url && version === request.httpVersion) return `${protocol}/${version}`;
  }
  return undefined;
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
