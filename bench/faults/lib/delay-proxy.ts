import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** Writes what it is given to `to` after a delay, in the order given, however the delay changes. */
function delayedPipe(from: Socket, to: Socket, delayMs: () => number): void {
  const queue: { at: number; chunk: Buffer }[] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    const now = performance.now();
    while (queue.length > 0 && (queue[0]?.at ?? 0) <= now) to.write(queue.shift()?.chunk ?? Buffer.alloc(0));
    const head = queue[0];
    if (head !== undefined) timer = setTimeout(flush, Math.max(0, head.at - now));
  };
  from.on('data', (chunk: Buffer) => {
    // Even a 0 ms timer waits a millisecond: without a delay, pass the chunk on at once.
    if (delayMs() === 0 && queue.length === 0) {
      to.write(chunk);
      return;
    }
    // Never before the chunk ahead of it: a shorter delay must not reorder the stream.
    queue.push({ at: Math.max(performance.now() + delayMs(), queue.at(-1)?.at ?? 0), chunk });
    timer ??= setTimeout(flush, Math.max(0, (queue[0]?.at ?? 0) - performance.now()));
  });
  from.once('close', () => {
    clearTimeout(timer);
    to.destroy();
  });
}

/**
 * A TCP proxy on a free loopback port in front of `targetPort` that holds every chunk, in
 * both directions, for `delayMs` (0 to start with): a slow link or a slow server, seen from
 * the client, without touching either.
 */
export class DelayProxy {
  delayMs = 0;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(targetPort: number) {
    this.#server = createServer((client) => {
      const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
      for (const socket of [client, upstream]) {
        // No Nagle: a small write held for a delayed ACK (up to 40 ms) would be a delay of our own.
        socket.setNoDelay(true);
        this.#sockets.add(socket);
        socket.once('close', () => this.#sockets.delete(socket));
        socket.on('error', () => socket.destroy());
      }
      const delay = () => this.delayMs;
      delayedPipe(client, upstream, delay);
      delayedPipe(upstream, client, delay);
    });
  }

  static async start(targetPort: number): Promise<DelayProxy> {
    const proxy = new DelayProxy(targetPort);
    await new Promise<void>((resolve, reject) => {
      proxy.#server.once('error', reject);
      proxy.#server.listen(0, '127.0.0.1', resolve);
    });
    return proxy;
  }

  get port(): number {
    const address = this.#server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  /** Stops listening and cuts every connection. */
  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}
