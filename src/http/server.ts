import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { urlHost } from '../url-host.js';
import { inTurn, lingerBeforeClosing } from './linger.js';
import type { ProblemCode } from './problem.js';
import { answerClientError, answerRequestError, maxHeaderLines, meetExpectations, refuseConnect, refuseBadHeads } from './server-answers.js';
import { gracefulShutdown, type Shutdown } from './shutdown.js';
import { readOtherProtocols } from './request-protocol.js';
import { closeAfterUpgradeRequests } from './upgrade.js';

export interface ServerOptions {
  readonly port: number;
  readonly hostname: string;
  /** Largest request target plus header names and values, bytes, as Node counts them; beyond it the answer is 431. */
  readonly maxHeaderBytes?: number;
  /** How long a client may take to send its headers, and its whole request, before a 408; ms. */
  readonly headersTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  /** How long an idle keep-alive connection stays open, ms (announced in `Keep-Alive: timeout=…`). */
  readonly keepAliveTimeoutMs?: number;
  /**
   * How long a connection that is not idle may go with no byte sent or received before it is
   * closed, ms. Node has no timeout for writing: without this, a client that sends requests and
   * never reads the answers holds its connection open for good once the socket's buffers fill.
   * Must be longer than the app takes to answer. Node lets a socket with a write in progress run
   * one period more before it times out, so a client that stops reading is cut after up to twice this.
   */
  readonly stallTimeoutMs?: number;
  /** After refusing a request whose body is still arriving, how long the rest is read and dropped before the connection closes, ms; see linger.ts. */
  readonly lingerMs?: number;
  /** How much of that rest is read and dropped at most, bytes. */
  readonly lingerBytes?: number;
  /** Called once for every problem the server answers before a request reaches the app (431, 408, 417, 505, not HTTP, no Host, CONNECT). */
  readonly onProblem?: (code: ProblemCode) => void;
}

/** The stall timeout for an app that answers within `answerMs`: no request is cut off while it is decided. */
export function stallTimeoutFor(answerMs: number): number {
  return answerMs + 5_000;
}

/** A listening server and the one way to stop it. */
export interface RunningServer {
  readonly server: Server;
  readonly port: number;
  readonly shutdown: Shutdown;
}

/**
 * Serves `fetch` (a Hono app's) on Node's HTTP server with the request-level limits set,
 * and resolves once it listens. `shutdown` drains it (see gracefulShutdown).
 */
export async function startServer(fetch: (request: Request) => Response | Promise<Response>, options: ServerOptions): Promise<RunningServer> {
  const server = createServer(
    {
      // Node refuses a head once what it counts reaches maxHeaderSize, not once it passes it:
      // MAX_HEADER_BYTES=16384 refused a head of 16,384 bytes, the largest it says it takes.
      maxHeaderSize: (options.maxHeaderBytes ?? 16_384) + 1,
      // Node's 5 s default is shorter than most gateways keep pooled connections, and shorter
      // than a bad pause (GC, CPU starvation): a request sent on a connection the service
      // then times out is reset (measured in bench/faults: the stall scenario).
      keepAliveTimeout: options.keepAliveTimeoutMs ?? 65_000,
      headersTimeout: options.headersTimeoutMs ?? 10_000,
      requestTimeout: options.requestTimeoutMs ?? 30_000,
      // Timeouts are checked on this period; Node's default (30 s) would let a slow client linger.
      connectionsCheckingInterval: Math.min(1_000, options.headersTimeoutMs ?? 1_000),
      // Checked by refuseBadHeads, which answers with a problem+json body.
      requireHostHeader: false,
    },
    // The listening address is the host of the URL of a request without a Host header (HTTP/1.0).
    // A request's protocol is read while Node's parser reads it, before its turn comes.
    readOtherProtocols(inTurn(closeAfterUpgradeRequests(refuseBadHeads(getRequestListener(fetch, { hostname: urlHost(options.hostname), errorHandler: answerRequestError(options.onProblem) }), options.onProblem)))),
  );
  server.maxHeadersCount = maxHeaderLines;
  // Node destroys a socket that times out when nothing listens for 'timeout'; an idle kept-alive
  // connection runs on keepAliveTimeout instead.
  server.timeout = options.stallTimeoutMs ?? stallTimeoutFor(60_000);
  server.on('connection', lingerBeforeClosing({ ms: options.lingerMs ?? 5_000, bytes: options.lingerBytes ?? 64 * 1024 * 1024 }));
  server.on('clientError', answerClientError(options.onProblem));
  const expectations = readOtherProtocols(inTurn(meetExpectations((request, response) => server.emit('request', request, response), options.onProblem)));
  server.on('checkContinue', expectations);
  server.on('checkExpectation', expectations);
  server.on('connect', refuseConnect(options.onProblem));
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
