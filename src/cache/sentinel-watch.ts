import type { ConnectionOptions } from 'node:tls';
import { Redis } from 'ioredis';
import type { HostPort } from './address.js';

/** What the Sentinels themselves ask of a client (`requirepass`, or an ACL user), not the data nodes. */
export interface SentinelAuth {
  readonly username?: string;
  readonly password?: string;
}

/** How to reach the Sentinels: their credentials, and TLS when they speak it. */
export interface SentinelConnection extends SentinelAuth {
  readonly tls?: ConnectionOptions;
}

const channel = '+switch-master';

/** The longest wait before a Sentinel that cannot be reached is tried again, ms. */
const maxRetryMs = 30_000;

const retryDelay = (attempt: number): number => Math.min(attempt * 1_000, maxRetryMs);

/**
 * Listens on every Sentinel for `+switch-master` of master `name` (`<name> <old ip> <old port>
 * <new ip> <new port>`) and calls `onSwitch` once per failover, however many Sentinels announce
 * it. A Sentinel that cannot be reached is tried again, without a word: Sentinels watch the data
 * nodes, and a failover one of them misses is still followed when the old master refuses a
 * write (READONLY) or Sentinel drops its clients. ioredis' own `failoverDetector` gives its
 * Sentinel connections no error listener, so each refused connection printed a bare stack to
 * stderr. Returns the function that stops listening.
 */
export function watchSwitchMaster(sentinels: readonly HostPort[], name: string, onSwitch: () => void, connection: SentinelConnection = {}): () => void {
  const { username, password, tls } = connection;
  let last: string | undefined;
  const clients = sentinels.map(({ host, port }) => {
    // No command limit: the SUBSCRIBE waits for the first connection, however long it takes,
    // and the client subscribes again after every reconnection.
    const client = new Redis({ host, port, username, password, tls, connectTimeout: 2_000, retryStrategy: retryDelay, maxRetriesPerRequest: null, enableReadyCheck: false });
    client.on('error', () => undefined);
    client.on('message', (from: string, message: string) => {
      if (from !== channel || message.split(' ')[0] !== name || message === last) return;
      last = message;
      onSwitch();
    });
    client.subscribe(channel).catch(() => undefined);
    return client;
  });
  return () => {
    for (const client of clients) client.disconnect();
  };
}
