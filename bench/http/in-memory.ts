import type { Server } from 'node:http';
import { Duplex } from 'node:stream';

/**
 * One keep-alive connection to a node:http server that never touches the kernel: requests are
 * pushed into the server as if they came off a socket, responses read back as it writes them.
 * Every request still goes through Node's HTTP parser, @hono/node-server and the app.
 */
export class InMemoryConnection {
  readonly #socket: Duplex;
  #received = '';
  #answered: ((failure: string | undefined) => void) | undefined;

  constructor(server: Server) {
    this.#socket = new Duplex({
      read: () => undefined,
      write: (chunk: Buffer, _encoding, done) => {
        this.#receive(chunk.toString('latin1'));
        done();
      },
    });
    // What node:http asks of a net.Socket beyond a stream.
    Object.assign(this.#socket, { remoteAddress: '127.0.0.1', remotePort: 1, setTimeout: () => this.#socket, setNoDelay: () => undefined, setKeepAlive: () => undefined });
    server.emit('connection', this.#socket);
  }

  /** Sends one raw HTTP/1.1 request; resolves with the start of the response when it is not a 2xx, else undefined. */
  exchange(request: Buffer): Promise<string | undefined> {
    return new Promise((resolve) => {
      this.#answered = resolve;
      this.#socket.push(request);
    });
  }

  #receive(text: string): void {
    this.#received += text;
    const headEnd = this.#received.indexOf('\r\n\r\n');
    if (headEnd === -1) return;
    const length = /\r\ncontent-length: *(\d+)/i.exec(this.#received.slice(0, headEnd))?.[1];
    const end = headEnd + 4 + Number(length ?? 0);
    if (this.#received.length < end) return;
    const response = this.#received.slice(0, end);
    this.#received = this.#received.slice(end);
    const answered = this.#answered;
    this.#answered = undefined;
    answered?.(/^HTTP\/1\.1 2\d\d /.test(response) ? undefined : response.slice(0, 300));
  }
}

/** A POST of `body` as JSON to `path`, as raw HTTP/1.1 bytes. */
export function rawJsonPost(path: string, body: unknown): Buffer {
  const text = JSON.stringify(body);
  return Buffer.from(`POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
}
