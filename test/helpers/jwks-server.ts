import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A real local key server: serves `document` at /jwks.json and counts the fetches. */
export interface JwksServer {
  readonly url: string;
  /** What the next fetch answers; a number answers that status with no body. */
  document: unknown;
  readonly fetches: number;
  close(): Promise<void>;
}

/** Starts a node:http key server on 127.0.0.1 and a free port. */
export async function startJwksServer(document: unknown): Promise<JwksServer> {
  let fetches = 0;
  const state = { document };
  const server = createServer((req, res) => {
    fetches += 1;
    if (req.url !== '/jwks.json') {
      res.writeHead(404).end();
    } else if (typeof state.document === 'number') {
      res.writeHead(state.document).end();
    } else {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(state.document));
    }
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/jwks.json`,
    get document() {
      return state.document;
    },
    set document(value: unknown) {
      state.document = value;
    },
    get fetches() {
      return fetches;
    },
    close: () => new Promise((closed) => {
      server.close(() => closed());
      server.closeAllConnections();
    }),
  };
}
