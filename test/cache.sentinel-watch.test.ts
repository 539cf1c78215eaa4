import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { watchSwitchMaster } from '../src/cache/sentinel-watch.js';
import { eventually } from './helpers/cache.js';
import { RedisServer } from './helpers/redis-server.js';

// A Sentinel announces a failover by publishing on +switch-master; a plain redis-server carries
// the same message on the same channel, so it stands in for one here.
describe('watchSwitchMaster', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  async function announcer(extraArgs: readonly string[] = [], password?: string) {
    const server = await RedisServer.start({ extraArgs });
    cleanup.push(() => server.stop());
    const publisher = new Redis(server.url, { password });
    // Its own connection drops too when the server is stopped.
    publisher.on('error', () => undefined);
    cleanup.push(() => publisher.disconnect());
    return { server, publish: (message: string) => publisher.publish('+switch-master', message) };
  }

  it('answers the failovers of its master group, once each however often announced, and no other group\'s', async () => {
    const sentinel = await announcer();
    const switches: number[] = [];
    cleanup.push(watchSwitchMaster([{ host: '127.0.0.1', port: sentinel.server.port }], 'pdp-master', () => switches.push(Date.now())));
    // Once subscribed, the announcement reaches it.
    await eventually('the watch to hear a failover', async () => {
      await sentinel.publish('pdp-master 10.0.0.1 6379 10.0.0.2 6379');
      return switches.length === 1;
    });
    await sentinel.publish('other-master 10.0.0.5 6379 10.0.0.6 6379');
    await sentinel.publish('pdp-master 10.0.0.1 6379 10.0.0.2 6379');
    await sentinel.publish('pdp-master-2 10.0.0.1 6379 10.0.0.2 6379');
    await sentinel.publish('pdp-master 10.0.0.2 6379 10.0.0.1 6379');
    await eventually('the next failover to be heard', () => switches.length === 2);
    await new Promise((done) => setTimeout(done, 100));
    expect(switches).toHaveLength(2);
  });

  it('logs in to Sentinels that ask for a password or an ACL user', async () => {
    const withPassword = await announcer(['--requirepass', 's3ntinel'], 's3ntinel');
    const withUser = await announcer(['--user', 'watcher', 'on', '>w4tch', '~*', '&*', '+@all', '--requirepass', 'other'], 'other');
    const switches: string[] = [];
    cleanup.push(watchSwitchMaster([{ host: '127.0.0.1', port: withPassword.server.port }], 'pdp-master', () => switches.push('password'), { password: 's3ntinel' }));
    cleanup.push(watchSwitchMaster([{ host: '127.0.0.1', port: withUser.server.port }], 'user-master', () => switches.push('user'), { username: 'watcher', password: 'w4tch' }));
    await eventually('both watches to hear a failover', async () => {
      await withPassword.publish('pdp-master 10.0.0.1 6379 10.0.0.2 6379');
      await withUser.publish('user-master 10.0.0.1 6379 10.0.0.2 6379');
      return switches.includes('password') && switches.includes('user');
    });
  });

  it('subscribes once a Sentinel that could not be reached at first comes up', async () => {
    const sentinel = await announcer();
    await sentinel.server.kill();
    let switched = 0;
    cleanup.push(watchSwitchMaster([{ host: '127.0.0.1', port: sentinel.server.port }], 'pdp-master', () => (switched += 1)));
    await new Promise((done) => setTimeout(done, 200));
    await sentinel.server.restart();
    await eventually('the watch to hear a failover', async () => {
      await sentinel.publish('pdp-master 10.0.0.1 6379 10.0.0.2 6379').catch(() => 0);
      return switched === 1;
    }, 5_000);
  });
});
