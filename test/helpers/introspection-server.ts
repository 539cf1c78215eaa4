import { readBody, startServer } from './http-server.js';

/** What the server answers for one token. */
export interface Reply {
  readonly status?: number;
  /** An object is sent as JSON; a string as is, in UTF-8; a Buffer as those very bytes. */
  readonly body?: string | Buffer | object;
  readonly contentType?: string;
  /** Wait this long before answering. */
  readonly delayMs?: number;
  /** Answer only once this has settled: a server slow for as long as the test needs it to be. */
  readonly until?: Promise<unknown>;
}

/** A local RFC 7662 introspection endpoint that checks client credentials and counts lookups. */
export interface IntrospectionServer {
  readonly url: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Every request, authenticated or not. */
  readonly requests: number;
  /** The Accept header of the last request. */
  readonly lastAccept: string | undefined;
  requestsFor(token: string): number;
  /** Sets the answer for a token; unknown tokens are `{ "active": false }`. */
  answer(token: string, reply: Reply): void;
  /** Added before every answer, on top of a reply's own `delayMs`: the whole server slow. */
  delayMs: number;
  close(): Promise<void>;
}

export async function startIntrospectionServer(clientId = 'invoice-pdp', clientSecret = 's3cret: with spaces&symbols'): Promise<IntrospectionServer> {
  const replies = new Map<string, Reply>();
  const perToken = new Map<string, number>();
  const expected = `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret).replace(/%20/g, '+')}`).toString('base64')}`;
  let requests = 0;
  let lastAccept: string | undefined;
  const state = { delayMs: 0 };
  const server = await startServer((req, res) => {
    requests += 1;
    lastAccept = req.headers.accept;
    void readBody(req).then(async (text) => {
      if (req.method !== 'POST' || req.headers.authorization !== expected || !req.headers['content-type']?.startsWith('application/x-www-form-urlencoded')) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_client"}');
        return;
      }
      const token = new URLSearchParams(text).get('token') ?? '';
      perToken.set(token, (perToken.get(token) ?? 0) + 1);
      const reply: Reply = replies.get(token) ?? { body: { active: false } };
      const delayMs = (reply.delayMs ?? 0) + state.delayMs;
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      await reply.until;
      if (res.destroyed) return;
      const body = typeof reply.body === 'string' || Buffer.isBuffer(reply.body) ? reply.body : JSON.stringify(reply.body ?? {});
      res.writeHead(reply.status ?? 200, { 'content-type': reply.contentType ?? 'application/json' }).end(body);
    });
  });
  return {
    url: `${server.url}/oauth2/introspect`,
    clientId,
    clientSecret,
    get requests() {
      return requests;
    },
    get lastAccept() {
      return lastAccept;
    },
    requestsFor: (token) => perToken.get(token) ?? 0,
    answer: (token, reply) => void replies.set(token, reply),
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(ms: number) {
      state.delayMs = ms;
    },
    close: server.close,
  };
}
