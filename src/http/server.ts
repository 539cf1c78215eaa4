import { randomUUID } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { getRequestListener, RequestError } from '@hono/node-server';
import { problemBody, problemResponse, ProblemError, problemTypes, type ProblemCode } from './problem.js';
import { gracefulShutdown, type Shutdown } from './shutdown.js';

export interface ServerOptions {
  readonly port: number;
  readonly hostname: string;
  /** Largest request line plus headers, bytes; beyond it the answer is 431. */
  readonly maxHeaderBytes?: number;
  /** How long a client may take to send its headers, and its whole request, before a 408; ms. */
  readonly headersTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  /** How long an idle keep-alive connection stays open, ms (announced in `Keep-Alive: timeout=…`). */
  readonly keepAliveTimeoutMs?: number;
  /** Called once for every problem the server answers before a request reaches the app (431, 408, not HTTP). */
  readonly onProblem?: (code: ProblemCode) => void;
}

/** A listening server and the one way to stop it. */
export interface RunningServer {
  readonly server: Server;
  readonly port: number;
  readonly shutdown: Shutdown;
}

interface ClientError extends Error {
  readonly code?: string;
}

function clientProblem(error: ClientError): ProblemError {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return new ProblemError('headers_too_large', 'the request line and headers are larger than the server accepts');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new ProblemError('client_timeout', 'the request was not received in time');
    default:
      return new ProblemError('invalid_request', 'the request is not valid HTTP/1.1');
  }
}

/**
 * Answers requests Node rejects before Hono sees them (headers too large, a malformed
 * request line, a client too slow) with a problem+json body, as every other error is.
 */
function answerClientError(onProblem: ServerOptions['onProblem']) {
  return function onClientError(error: ClientError, socket: Duplex): void {
    // Node's own handler makes the same checks: nothing to say to a socket that is gone,
    // and no second status line once a response has started.
    const started = (socket as { _httpMessage?: ServerResponse | null })._httpMessage?.headersSent === true;
    if (error.code === 'ECONNRESET' || !socket.writable || started) {
      socket.destroy();
      return;
    }
    const problem = clientProblem(error);
    onProblem?.(problem.code);
    const { status, title } = problemTypes[problem.code];
    const body = problemBody(problem, '', randomUUID());
    socket.end(
      `HTTP/1.1 ${status} ${title}\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  };
}

/**
 * Answers a request @hono/node-server cannot turn into a web Request (a Host header that is not
 * a host, a request target with a backslash or another scheme) with a problem+json body too:
 * left to it, the answer is a bare 400 with no body.
 */
function answerRequestError(onProblem: ServerOptions['onProblem']) {
  return function onRequestError(error: unknown): Response {
    const close = { connection: 'close' };
    const problem = error instanceof RequestError
      ? new ProblemError('invalid_request', `the request cannot be read: ${error.message}`, undefined, close)
      : new ProblemError('internal', 'the request could not be answered', undefined, close);
    onProblem?.(problem.code);
    return problemResponse(problem, '', randomUUID());
  };
}

/**
 * Serves `fetch` (a Hono app's) on Node's HTTP server with the request-level limits set,
 * and resolves once it listens. `shutdown` drains it (see gracefulShutdown).
 */
export async function startServer(fetch: (request: Request) => Response | Promise<Response>, options: ServerOptions): Promise<RunningServer> {
  const server = createServer(
    {
      maxHeaderSize: options.maxHeaderBytes ?? 16_384,
      // Node's 5 s default is shorter than most gateways keep pooled connections, and shorter
      // than a bad pause (GC, CPU starvation): a request sent on a connection the service
      // then times out is reset (measured in bench/faults: the stall scenario).
      keepAliveTimeout: options.keepAliveTimeoutMs ?? 65_000,
      headersTimeout: options.headersTimeoutMs ?? 10_000,
      requestTimeout: options.requestTimeoutMs ?? 30_000,
      // Timeouts are checked on this period; Node's default (30 s) would let a slow client linger.
      connectionsCheckingInterval: Math.min(1_000, options.headersTimeoutMs ?? 1_000),
    },
    getRequestListener(fetch, { hostname: options.hostname, errorHandler: answerRequestError(options.onProblem) }),
  );
  server.on('clientError', answerClientError(options.onProblem));
  const shutdown = gracefulShutdown(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.hostname, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { server, port: (server.address() as AddressInfo).port, shutdown };
}
