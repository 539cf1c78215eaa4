import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';

/** A fetch-style app served on a real socket. */
export interface Listening {
  readonly url: string;
  close(): Promise<void>;
}

/** Serves `app` with @hono/node-server on 127.0.0.1 and a free port, as `npm start` does. */
export function listen(app: { fetch: (request: Request) => Response | Promise<Response> }): Promise<Listening> {
  return new Promise((ready) => {
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => {
      ready({
        url: `http://127.0.0.1:${info.port}`,
        close: () => new Promise((closed) => {
          server.close(() => closed());
          if ('closeAllConnections' in server) server.closeAllConnections();
        }),
      });
    });
  });
}

/** What `rawPost` got back. */
export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/**
 * POSTs `chunks` with node:http, one write each. Without `contentLength` the body goes out
 * with `Transfer-Encoding: chunked`, which fetch cannot be made to do for a string body.
 */
export function rawPost(url: string, chunks: readonly string[], headers: Record<string, string>, contentLength?: number): Promise<RawResponse> {
  return new Promise((done, fail) => {
    const req = httpRequest(url, {
      method: 'POST',
      headers: { ...headers, ...(contentLength !== undefined && { 'content-length': String(contentLength) }) },
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => done({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    // The server may answer 413 and close before the whole body is written.
    req.on('error', fail);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}
