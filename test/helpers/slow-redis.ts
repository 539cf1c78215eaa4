import { connect, createServer, type Server, type Socket } from 'node:net';

/** A Redis far away: its URL, and how many round trips were made through it. */
export interface SlowRedis {
  readonly url: string;
  /** Times a client sent a command after its last one was answered: one round trip each. */
  readonly roundTrips: number;
  close(): Promise<void>;
}

/**
 * A TCP proxy to the Redis at `target` (a redis:// URL) that holds each reply `delayMs` before
 * passing it on, and counts the round trips made through it.
 */
export async function slowRedis(target: string, delayMs: number): Promise<SlowRedis> {
  const { hostname, port: targetPort } = new URL(target);
  const sockets = new Set<Socket>();
  let roundTrips = 0;
  const server: Server = createServer((client) => {
    const upstream = connect(Number(targetPort), hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    /** Whether every command sent so far was answered. */
    let answered = true;
    client.on('data', (chunk) => {
      if (answered) roundTrips += 1;
      answered = false;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) =>
      setTimeout(() => {
        answered = true;
        client.write(chunk);
      }, delayMs),
    );
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const { port } = server.address() as { port: number };
  return {
    url: `redis://127.0.0.1:${String(port)}`,
    get roundTrips() {
      return roundTrips;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((closed) => server.close(closed));
    },
  };
}
