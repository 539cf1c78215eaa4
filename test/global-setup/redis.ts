import type { TestProject } from 'vitest/node';
import { RedisServer } from '../helpers/redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A Redis every test may use; tests keep to keys under a prefix of their own. */
    redisUrl: string;
  }
}

/** Provides `redisUrl`: REDIS_URL when set, else a redis-server started for this run. */
export async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = process.env['REDIS_URL']?.trim();
  if (given !== undefined && given !== '') {
    project.provide('redisUrl', given);
    return async () => {};
  }
  const server = await RedisServer.start();
  project.provide('redisUrl', server.url);
  return () => server.stop();
}
