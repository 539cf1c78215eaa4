import { connect } from 'node:net';

/**
 * Why a TCP connection to `host`:`port` cannot be made (ECONNREFUSED, EHOSTUNREACH, a timeout
 * after `timeoutMs`); undefined once one is made, and closed at once. For a cause a client
 * library lost: a Redis Cluster client drops the error of the connection it refreshes its slots
 * over, and says only that it closed.
 */
export function connectionError(host: string, port: number, timeoutMs: number): Promise<Error | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const settle = (error: Error | undefined) => {
      socket.destroy();
      resolve(error);
    };
    socket.setTimeout(timeoutMs, () => settle(Object.assign(new Error(`connect ETIMEDOUT ${host}:${String(port)}: no connection within ${String(timeoutMs)} ms`), { code: 'ETIMEDOUT' })));
    socket.once('connect', () => settle(undefined));
    socket.once('error', settle);
  });
}
