import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer, type ServerOptions } from '../src/http/server.js';
import { buildTestApp } from './helpers/app.js';
import { readResponse } from './helpers/raw-http.js';
import { spawnServer, type ServerProcess } from './helpers/spawn-server.js';

const megabytes = (n: number) => n * 1024 * 1024;

async function serve(options: Partial<ServerOptions> = {}, maxBodyBytes = 2048): Promise<RunningServer> {
  const { app } = await buildTestApp({ app: { maxBodyBytes } });
  return startServer(app.fetch, { port: 0, hostname: '127.0.0.1', ...options });
}

/**
 * A client connection that keeps sending after the server's FIN, as a client writing its whole
 * body before it reads does (Node's net sockets would otherwise end their side on it).
 */
function sender(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    socket.once('connect', () => {
      socket.off('error', reject);
      // The server may cut the connection while this side still writes: that is the point.
      socket.on('error', () => undefined);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** The server's side of each connection it accepts, in order. */
function serverSockets(running: RunningServer): Socket[] {
  const sockets: Socket[] = [];
  running.server.on('connection', (socket: Socket) => sockets.push(socket));
  return sockets;
}

/** Resolves once `socket` has closed, with when (performance.now()). */
function closed(socket: Socket): Promise<number> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve(performance.now());
    else socket.once('close', () => resolve(performance.now()));
  });
}

describe('a refusal reaches a client still sending its body (the service in its own process)', () => {
  let small: ServerProcess;
  let roomy: ServerProcess;
  let url: string;
  beforeAll(async () => {
    small = spawnServer({ MAX_BODY_BYTES: '1024' });
    roomy = spawnServer({ MAX_BODY_BYTES: String(megabytes(16)) });
    url = `http://127.0.0.1:${await small.listening}/decide`;
    await roomy.listening;
  });
  afterAll(async () => {
    // Killed, not stopped: a stop would wait out the linger of the last refused body fetch left
    // unsent (about 5 s), and stopping is the shutdown tests' to check.
    for (const proc of [small, roomy]) proc.child.kill('SIGKILL');
    await Promise.all([small.exited, roomy.exited]);
  });

  it('answers 413 to fetch sending 4 MB with a Content-Length, every time', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: ' '.repeat(4e6) });
      expect(res.status).toBe(413);
      expect(await res.json()).toMatchObject({ type: 'urn:invoice-pdp:problem:payload_too_large' });
    }
  });

  it('answers 413 to fetch streaming 4 MB without a length, every time', async () => {
    for (let i = 0; i < 10; i++) {
      const chunk = new TextEncoder().encode(' '.repeat(62_500));
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent++ === 64) controller.close();
          else controller.enqueue(chunk);
        },
      });
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, duplex: 'half' } as RequestInit);
      expect(res.status).toBe(413);
      await res.body?.cancel();
    }
  });

  it('answers 415 to a client that writes all of a large body before it reads', async () => {
    for (let i = 0; i < 5; i++) {
      const socket = await sender(await roomy.listening);
      const response = readResponse(socket);
      const body = Buffer.alloc(megabytes(8), 0x20);
      socket.write(`POST /decide HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\n\r\n`);
      socket.write(body);
      const answer = await response;
      expect(answer.status).toBe(415);
      expect(answer.headers['connection']).toBe('close');
      socket.destroy();
    }
  });
});

describe('what is read of a refused body, and for how long', () => {
  it('reads the rest of the body, then closes once it has all arrived', async () => {
    const running = await serve({ lingerMs: 10_000, lingerBytes: megabytes(64) });
    const sockets = serverSockets(running);
    try {
      const socket = await sender(running.port);
      const response = readResponse(socket);
      const body = Buffer.alloc(megabytes(4), 0x20);
      socket.write(`POST /decide HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`);
      expect((await response).status).toBe(413);
      const started = performance.now();
      socket.write(body);
      const server = sockets[0];
      if (server === undefined) throw new Error('no connection seen');
      expect((await closed(server)) - started).toBeLessThan(5_000);
      expect(server.bytesRead).toBeGreaterThan(body.length);
      socket.destroy();
    } finally {
      await running.shutdown(1_000);
    }
  });

  it('stops reading after lingerMs', async () => {
    const running = await serve({ lingerMs: 400, lingerBytes: megabytes(64) });
    const sockets = serverSockets(running);
    try {
      const socket = await sender(running.port);
      const response = readResponse(socket);
      socket.write(`POST /decide HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${megabytes(4)}\r\n\r\n`);
      expect((await response).status).toBe(413);
      const answered = performance.now();
      // A client that trickles its body: still read a while after the answer, then cut off.
      const trickle = setInterval(() => socket.writable && socket.write(' '.repeat(100)), 20);
      const server = sockets[0];
      if (server === undefined) throw new Error('no connection seen');
      const lasted = (await closed(server)) - answered;
      clearInterval(trickle);
      expect(lasted).toBeGreaterThan(300);
      expect(lasted).toBeLessThan(2_000);
      socket.destroy();
    } finally {
      await running.shutdown(1_000);
    }
  });

  it('stops reading after lingerBytes', async () => {
    const lingerBytes = megabytes(2);
    const running = await serve({ lingerMs: 20_000, lingerBytes });
    const sockets = serverSockets(running);
    try {
      const socket = await sender(running.port);
      const response = readResponse(socket);
      const length = megabytes(256);
      socket.write(`POST /decide HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${length}\r\n\r\n`);
      expect((await response).status).toBe(413);
      const server = sockets[0];
      if (server === undefined) throw new Error('no connection seen');
      const read = server.bytesRead;
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = () => {
        while (!socket.destroyed && socket.writable) if (!socket.write(chunk)) return void socket.once('drain', pump);
      };
      pump();
      const started = performance.now();
      await closed(server);
      expect(performance.now() - started).toBeLessThan(10_000);
      // Checked on a 25 ms period: what arrives in one may come on top of the bound.
      expect(server.bytesRead - read).toBeGreaterThan(lingerBytes);
      expect(server.bytesRead - read).toBeLessThan(length / 2);
      socket.destroy();
    } finally {
      await running.shutdown(1_000);
    }
  });
});

describe('an answer given before the body has all arrived', () => {
  it('closes the connection, once the rest is read and dropped, rather than announce keep-alive', async () => {
    const running = await serve({ lingerMs: 10_000 });
    const sockets = serverSockets(running);
    try {
      const socket = await sender(running.port);
      let received = '';
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
      const response = readResponse(socket);
      socket.write('POST /no-such-route HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"a":');
      const answer = await response;
      expect(answer.status).toBe(404);
      expect(answer.headers['content-type']).toBe('application/problem+json');
      expect(answer.headers['connection']).toBe('close');
      // The rest of the body, and a request behind it: dropped with the body, never answered.
      socket.write(`${' '.repeat(95)}GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`);
      const server = sockets[0];
      if (server === undefined) throw new Error('no connection seen');
      await closed(server);
      expect(received.match(/^HTTP\/1\.1 /gm)).toHaveLength(1);
      socket.destroy();
    } finally {
      await running.shutdown(1_000);
    }
  });

  it('keeps the connection when the body came whole with the headers', async () => {
    const running = await serve();
    try {
      const socket = await sender(running.port);
      const first = readResponse(socket);
      socket.write('POST /no-such-route HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}');
      const answer = await first;
      expect(answer.status).toBe(404);
      expect(answer.headers['connection']).toBe('keep-alive');
      const second = readResponse(socket);
      socket.write('GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n');
      expect((await second).status).toBe(200);
      socket.destroy();
    } finally {
      await running.shutdown(1_000);
    }
  });
});
