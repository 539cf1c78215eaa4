import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

function problems(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('configuration was accepted');
}

describe('cache configuration', () => {
  it('defaults to no memory layer, a 30 s TTL and no Redis', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      CACHE_MEMORY_ENTRIES: 0,
      CACHE_TTL_SECONDS: 30,
      CACHE_PREFIX: 'invoice-pdp:decision:',
      REDIS_COMMAND_TIMEOUT_MS: 20,
      REDIS_BACKOFF_MS: 1_000,
    });
    expect(config.REDIS_URL).toBeUndefined();
  });

  it('reports every Redis setting problem at once', () => {
    const message = problems({
      REDIS_URL: 'http://cache:6379',
      REDIS_CLUSTER_NODES: 'a:1,b:not-a-port',
      REDIS_SENTINELS: 'sentinel:26379',
      CACHE_MEMORY_ENTRIES: '-1',
      REDIS_COMMAND_TIMEOUT_MS: '0',
    });
    expect(message).toContain('REDIS_URL: must be a redis:// or rediss:// URL');
    expect(message).toContain('CACHE_MEMORY_ENTRIES');
    expect(message).toContain('REDIS_COMMAND_TIMEOUT_MS');
  });

  it('accepts one Redis deployment only, and Sentinel only with its master name', () => {
    expect(problems({ REDIS_URL: 'redis://a:6379', REDIS_CLUSTER_NODES: 'b:7000' })).toContain('set only one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS');
    expect(problems({ REDIS_SENTINELS: 's1:26379' })).toContain('REDIS_SENTINEL_NAME: REDIS_SENTINELS and REDIS_SENTINEL_NAME go together');
    expect(problems({ REDIS_URL: 'redis://a:6379', REDIS_PASSWORD: 'secret' })).toContain('REDIS_PASSWORD: with REDIS_URL, put the credentials in the URL');
    expect(problems({ REDIS_PASSWORD: 'secret' })).toContain('REDIS_PASSWORD: credentials of the Redis nodes: set REDIS_CLUSTER_NODES or REDIS_SENTINELS too');
    expect(problems({ REDIS_SENTINEL_PASSWORD: 'secret' })).toContain('REDIS_SENTINEL_PASSWORD: credentials of the Sentinels: set REDIS_SENTINELS too');
    expect(problems({ REDIS_CLUSTER_NODES: 'a:7000', REDIS_SENTINEL_USERNAME: 'pdp' })).toContain('REDIS_SENTINEL_USERNAME: credentials of the Sentinels: set REDIS_SENTINELS too');
    expect(problems({ REDIS_USERNAME: 'pdp' })).toContain('REDIS_USERNAME: credentials of the Redis nodes: set REDIS_CLUSTER_NODES or REDIS_SENTINELS too');
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'a:7000', REDIS_USERNAME: 'pdp', REDIS_PASSWORD: 'secret' }).REDIS_PASSWORD).toBe('secret');
    expect(problems({ REDIS_CLUSTER_NODES: 'a:7000,b:70000' })).toContain('REDIS_CLUSTER_NODES: "b:70000" is not a host:port');
    // A node given as a URL with its password: named, the password not printed.
    const withPassword = problems({ REDIS_CLUSTER_NODES: 'redis://:s3cret-pw@a:7000', REDIS_SENTINELS: 'pdp:s3cret-pw@s1:26379', REDIS_SENTINEL_NAME: 'm' });
    expect(withPassword).toContain('REDIS_CLUSTER_NODES: "***@a:7000" is not a host:port');
    expect(withPassword).toContain('REDIS_SENTINELS: "***@s1:26379" is not a host:port');
    expect(withPassword).not.toContain('s3cret-pw');
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'a:7000, [::1]:7001,c' }).REDIS_CLUSTER_NODES).toEqual(['a:7000', '[::1]:7001', 'c']);
  });

  it('refuses a Redis node whose host holds a password, and quotes a node without its path or query', () => {
    // `s3cret-pw@s1` is no host name: taken, it was shown whole in the start-up summary.
    const found = problems({
      REDIS_SENTINELS: 's3cret-pw@s1:26379',
      REDIS_SENTINEL_NAME: 'm',
      REDIS_CLUSTER_NODES: 'a:7000?password=s3cret-pw,b:7000/s3cret-pw,redis://c:7000#s3cret-pw',
    });
    expect(found).toContain('REDIS_CLUSTER_NODES: "a:7000?***" is not a host:port');
    expect(found).toContain('REDIS_CLUSTER_NODES: "b:7000/***" is not a host:port');
    expect(found).toContain('REDIS_CLUSTER_NODES: "redis://c:7000#***" is not a host:port');
    expect(found).toContain('REDIS_SENTINELS: "***@s1:26379" is not a host:port');
    expect(found).not.toContain('s3cret-pw');
  });

  it('refuses a Redis node whose brackets hold no address, which the client never reaches', () => {
    expect(problems({ REDIS_CLUSTER_NODES: '[1::2::3]:7000,[:::]' }).split('\n').slice(1)).toEqual([
      '  REDIS_CLUSTER_NODES: "[1::2::3]:7000" is not a host:port',
      '  REDIS_CLUSTER_NODES: "[:::]" is not a host:port',
    ]);
    expect(problems({ REDIS_SENTINELS: '[fe80::1]:26379,[12345::1]', REDIS_SENTINEL_NAME: 'm' }).split('\n').slice(1)).toEqual([
      '  REDIS_SENTINELS: "[12345::1]" is not a host:port',
    ]);
    expect(loadConfig({ REDIS_CLUSTER_NODES: '[::1]:7000,[2001:db8::7]:7001,[::ffff:10.0.0.1]' }).REDIS_CLUSTER_NODES).toHaveLength(3);
  });

  it('refuses a Redis command timeout over half the request timeout, naming both', () => {
    expect(problems({ REDIS_URL: 'redis://a:6379', REDIS_COMMAND_TIMEOUT_MS: '3000', REQUEST_TIMEOUT_MS: '500' })).toContain(
      'REDIS_COMMAND_TIMEOUT_MS: 3000 ms is more than half of REQUEST_TIMEOUT_MS (500 ms)',
    );
    expect(problems({ REDIS_SENTINELS: 's1:26379', REDIS_SENTINEL_NAME: 'm', REDIS_COMMAND_TIMEOUT_MS: '251', REQUEST_TIMEOUT_MS: '500' })).toContain(
      'REDIS_COMMAND_TIMEOUT_MS: 251 ms is more than half of REQUEST_TIMEOUT_MS (500 ms)',
    );
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'a:7000', REDIS_COMMAND_TIMEOUT_MS: '250', REQUEST_TIMEOUT_MS: '500' }).REDIS_COMMAND_TIMEOUT_MS).toBe(250);
    // Without Redis the command timeout is never used.
    expect(loadConfig({ REDIS_COMMAND_TIMEOUT_MS: '3000', REQUEST_TIMEOUT_MS: '500' }).REDIS_COMMAND_TIMEOUT_MS).toBe(3000);
  });
});
