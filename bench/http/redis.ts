import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from '../../test/helpers/free-port.js';
import { start, type Child } from './processes.js';

/** A throwaway redis-server on a free loopback port. */
export interface BenchRedis {
  readonly url: string;
  readonly pid: number;
  keys(): Promise<number>;
  flush(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts redis-server without persistence; undefined when it is not installed. */
export async function startRedis(): Promise<BenchRedis | undefined> {
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).error !== undefined) return undefined;
  const port = await freePort();
  const { child } = await start('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    portFrom: (line) => (/Ready to accept connections/.test(line) ? port : undefined),
  });
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid,
    keys: () => client.dbsize(),
    flush: async () => {
      await client.flushall();
    },
    stop: async () => {
      client.disconnect();
      await (child as Child).stop();
    },
  };
}
