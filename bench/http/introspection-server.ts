import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Claims } from '../workload.js';

/** A local RFC 7662 introspection endpoint with client credentials, counting its calls. */
export interface IntrospectionServer {
  readonly url: string;
  readonly clientId: string;
  readonly clientSecret: string;
  hits(): number;
  close(): Promise<void>;
}

/** Serves `POST /introspect` for the given opaque tokens; any other token is inactive. */
export async function startIntrospection(tokens: ReadonlyMap<string, Claims>, issuer: string, audience: string): Promise<IntrospectionServer> {
  const clientId = 'invoice-pdp-bench';
  const clientSecret = 'bench-secret';
  const expected = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`;
  let hits = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      hits++;
      if (req.method !== 'POST' || req.headers.authorization !== expected) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_client"}');
        return;
      }
      const token = new URLSearchParams(body).get('token') ?? '';
      const claims = tokens.get(token);
      const now = Math.floor(Date.now() / 1000);
      const answer = claims === undefined
        ? { active: false }
        : { active: true, token_type: 'access_token', client_id: 'gateway', iss: issuer, aud: audience, iat: now, exp: now + 3600, ...claims };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/introspect`,
    clientId,
    clientSecret,
    hits: () => hits,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
