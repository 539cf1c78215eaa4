import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JSONWebKeySet } from 'jose';
import { startServer } from './http-server.js';

/**
 * How the key server behaves: serves the keys, fails, fails with a page longer than a key set may
 * be (a proxy's), drops the connection, never answers, or answers nonsense.
 */
export type JwksMode = 'ok' | 'error' | 'error-page' | 'reset' | 'hang' | 'garbage';

/** A local identity provider's JWKS endpoint whose keys and health the test controls. */
export interface JwksServer {
  readonly url: string;
  /** Requests received so far, whatever the mode. */
  readonly requests: number;
  mode: JwksMode;
  /** The document served from now on; text is sent as it is (a document JSON.stringify cannot write). */
  publish(document: JSONWebKeySet | string): void;
  /** Stops listening: fetches are refused until `restart`. */
  stop(): Promise<void>;
  /** Listens again at the same URL. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startJwksServer(initial: JSONWebKeySet): Promise<JwksServer> {
  let document: JSONWebKeySet | string = initial;
  let requests = 0;
  const state = { mode: 'ok' as JwksMode };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    requests += 1;
    switch (state.mode) {
      case 'ok':
        res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(typeof document === 'string' ? document : JSON.stringify(document));
        return;
      case 'error':
        res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error');
        return;
      case 'error-page':
        res.writeHead(503, { 'content-type': 'text/html' }).end(`<html>${'x'.repeat(600 * 1024)}</html>`);
        return;
      case 'reset':
        req.socket.destroy();
        return;
      case 'hang':
        return;
      case 'garbage':
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys": "nope"');
        return;
    }
  };
  let server = await startServer(handler);
  const port = Number(new URL(server.url).port);
  return {
    url: `${server.url}/jwks.json`,
    get requests() {
      return requests;
    },
    get mode() {
      return state.mode;
    },
    set mode(mode: JwksMode) {
      state.mode = mode;
    },
    publish(next) {
      document = next;
    },
    stop: () => server.close(),
    async restart() {
      server = await startServer(handler, port);
    },
    close: () => server.close(),
  };
}
