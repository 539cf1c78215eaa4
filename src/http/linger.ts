import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { Socket } from 'node:net';

/** How much of a refused request's body is read and dropped before its connection closes. */
export interface LingerLimits {
  /** Longest the rest of the body is waited for, ms. */
  readonly ms: number;
  /** Most bytes read and dropped. */
  readonly bytes: number;
}

/**
 * Node's HTTP server keeps each connection's parser on it, with the request whose body it reads,
 * and marks a connection it stopped reading, for want of room for the answers, `_paused`.
 */
interface ServedSocket extends Socket {
  readonly parser?: { readonly incoming?: IncomingMessage | null; resume(): void } | null;
  _paused?: boolean;
}

/** What `destroySoon` becomes once a socket lingers: later calls leave the closing to the linger. */
function lingering(): void {
  // The linger already ends with a close of its own.
}

/** Whether `socket` is reading and dropping the rest of a refused body before it closes. */
export function isLingering(socket: object): boolean {
  return (socket as Partial<Socket>).destroySoon === lingering;
}

/** How often a lingering socket's bytes and time are checked, ms. */
const checkEveryMs = 25;

/**
 * Follows the answer with a FIN, then lets Node's parser read and drop what the client still
 * sends until the request's body has all arrived (then closes once the answer is written out),
 * the client closes its side too, or `limits` run out (then closes at once).
 */
function linger(socket: Socket, request: IncomingMessage, limits: LingerLimits): void {
  socket.destroySoon = lingering;
  const until = performance.now() + limits.ms;
  const mostBytesRead = socket.bytesRead + limits.bytes;
  // The parser reads the socket itself, without `data` events, so the bytes it has read are
  // looked at on a short period: the bound holds to within what arrives in one.
  const check = setInterval(() => {
    if (socket.bytesRead > mostBytesRead || performance.now() >= until) socket.destroy();
  }, checkEveryMs);
  socket.once('close', () => clearInterval(check));
  request.once('end', () => Socket.prototype.destroySoon.call(socket));
  // A reader that stopped midway (a streamed body refused at the size limit) holds the body
  // back, and with it the socket: nobody will read further, so what comes is dropped.
  if (request.readableFlowing !== true) {
    request.removeAllListeners('data');
    request.resume();
  }
  socket.end();
}

/**
 * Lets a refusal reach a client that is still sending its body. Node closes a connection as soon
 * as an answer with `Connection: close` is written; if the request's body is still arriving (a 413
 * judged on Content-Length, a 415, a 408), the client's next bytes meet a closed socket and its
 * system answers them with a reset, which discards the answer before the client reads it. Instead
 * the connection lingers (RFC 9112 §9.6): the answer is followed by a FIN and the rest of the body
 * is read and dropped, within `limits`, before the socket closes. Returns the server's
 * `connection` listener; it replaces each socket's `destroySoon`, what Node calls to close after
 * such an answer, so requests whose body was read pay nothing.
 */
export function lingerBeforeClosing(limits: LingerLimits): (socket: Socket) => void {
  function destroySoon(this: ServedSocket): void {
    const request = this.parser?.incoming;
    if (request === undefined || request === null || request.complete || this.readableEnded) {
      Socket.prototype.destroySoon.call(this);
      return;
    }
    linger(this, request, limits);
  }
  return function lingerOnConnection(socket) {
    socket.destroySoon = destroySoon;
  };
}

/** Calls `listener` for a request on a connection whose last answer has not closed it; drops it otherwise. */
function callIfOpen(listener: RequestListener, request: IncomingMessage, response: ServerResponse): void {
  // Node's parser goes on reading after an answer that closes the connection (its end written,
  // or the rest of a refused body lingering): a request it finds there is never answered, so it
  // is not evaluated either (RFC 9112 §9.6). Its body is read and dropped with the rest.
  const socket = response.socket;
  if (socket === null || socket.writableEnded) {
    request.resume();
    return;
  }
  listener(request, response);
}

/**
 * Most requests of one connection waiting for their turn (see inTurn) before the connection stops
 * being read; it is read again once half of them have had theirs.
 */
const maxWaiting = 16;

/** How many requests of each connection wait for their turn. */
const waiting = new WeakMap<Socket, number>();

/**
 * Stops reading `socket` as Node's server does when answers pile up unsent: marked `_paused`, so
 * that Node also pauses its parser once the bytes at hand are parsed, and would resume both once
 * its own backlog drains.
 */
function stopReading(socket: ServedSocket): void {
  socket._paused = true;
  socket.pause();
}

/** Reads `socket` again after `stopReading`, unless unsent answers still fill it (Node resumes it then). */
function readAgain(socket: ServedSocket): void {
  if (socket._paused !== true || socket.writableNeedDrain) return;
  socket._paused = false;
  socket.parser?.resume();
  socket.resume();
}

/**
 * `listener`, called for each request in its turn: once every request before it on the
 * connection was answered and the connection stays open. Node parses pipelined requests as they
 * arrive, a whole batch in one read, and hands each to the server at once, its response queued;
 * evaluated then, requests behind an answer that closes the connection (a 415, a 413) would be
 * decided and audited but never answered. Node gives a queued response the socket (its `socket`
 * event) only once the answer before it is written and left the connection open (resOnFinish in
 * Node's _http_server.js, internal), so a request behind one that closed it never reaches
 * `listener`. A request alone on its connection, the common case, is passed on at once.
 *
 * Node stops reading a connection whose answers pile up unwritten; held here, the answers never
 * pile up, so a client that pipelines without reading them would have its requests parsed and
 * queued without end (1 GB in 6 s from one connection, then out of memory). Past `maxWaiting`
 * waiting requests, the connection is no longer read.
 */
export function inTurn(listener: RequestListener): RequestListener {
  return function onRequestInTurn(request, response) {
    if (response.socket !== null) {
      callIfOpen(listener, request, response);
      return;
    }
    queued.set(request, response);
    const socket: ServedSocket = request.socket;
    const count = (waiting.get(socket) ?? 0) + 1;
    waiting.set(socket, count);
    if (count >= maxWaiting && socket._paused !== true) stopReading(socket);
    response.once('socket', () => {
      queued.delete(request);
      const left = (waiting.get(socket) ?? 1) - 1;
      waiting.set(socket, left);
      if (left <= maxWaiting / 2) readAgain(socket);
      callIfOpen(listener, request, response);
    });
  };
}

/** Requests waiting for their turn (see inTurn), with their responses; Node links them one way only. */
const queued = new WeakMap<IncomingMessage, ServerResponse>();

/**
 * The response queued for the request whose body the parser of `socket` is reading, when that
 * request waits behind another's answer (see inTurn): an error in its body is its own.
 */
export function queuedResponseOf(socket: object): ServerResponse | undefined {
  const request = unfinishedRequestOn(socket);
  return request === undefined ? undefined : queued.get(request);
}

/** The request whose body the parser of `socket` is still reading, if any. */
export function unfinishedRequestOn(socket: object): IncomingMessage | undefined {
  const request = (socket as ServedSocket).parser?.incoming;
  return request === undefined || request === null || request.complete ? undefined : request;
}
