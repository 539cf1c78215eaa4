import { randomUUID } from 'node:crypto';
import { cacheFromConfig, type CacheSetup } from '../../src/cache/from-config.js';
import type { CacheObserver, CacheSource, CacheWriteResult } from '../../src/cache/layer.js';
import { loadConfig } from '../../src/config.js';

/** An observer that counts what the cache reports. */
export class CountingObserver implements CacheObserver {
  readonly counts = new Map<string, number>();
  readonly writes = new Map<CacheWriteResult, number>();
  readonly upChanges: boolean[] = [];

  cacheRequest(layer: CacheSource, result: 'hit' | 'miss' | 'error'): void {
    const key = `${layer}:${result}` as const;
    this.counts.set(key, this.count(key) + 1);
  }

  cacheWrite(_layer: 'redis', result: CacheWriteResult): void {
    this.writes.set(result, this.written(result) + 1);
  }

  /** Writes to Redis that ended with `result`. */
  written(result: CacheWriteResult): number {
    return this.writes.get(result) ?? 0;
  }

  redisUp(up: boolean): void {
    this.upChanges.push(up);
  }

  count(key: `${CacheSource}:${'hit' | 'miss' | 'error'}`): number {
    return this.counts.get(key) ?? 0;
  }
}

/** A key prefix no other test uses, so tests can share one Redis. */
export function uniquePrefix(): string {
  return `test:${randomUUID()}:`;
}

/** A cache built the way the service builds it: from environment variables through the config schema. */
export function cacheFromEnv(env: Record<string, string>, observer?: CacheObserver): Promise<CacheSetup> {
  return cacheFromConfig(loadConfig(env), { observer });
}

/** Polls `probe` until it returns true, or fails after `timeoutMs`. */
export async function eventually(what: string, probe: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
