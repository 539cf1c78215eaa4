import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { cacheFromConfig, type CacheSetup } from '../src/cache/from-config.js';
import { watchSwitchMaster } from '../src/cache/sentinel-watch.js';
import { redisTlsFromConfig } from '../src/cache/tls.js';
import { loadConfig } from '../src/config.js';
import { eventually, uniquePrefix } from './helpers/cache.js';
import { configProblems as problemsOf } from './helpers/config.js';
import { freePort } from './helpers/free-port.js';
import { runServerToExit } from './helpers/process.js';
import { PortTakenError, RedisServer } from './helpers/redis-server.js';
import { servesFromRedis } from './helpers/serves-from-redis.js';
import { tempDir } from './helpers/tmp.js';

// A CA and a certificate it signed for 127.0.0.1 and localhost, valid for a hundred years
// (test/fixtures/tls/README.md says how they were made).
const tlsDir = join(import.meta.dirname, 'fixtures/tls');
const caFile = join(tlsDir, 'ca.pem');
// Another CA, and a certificate it signed for the name localhost alone, not its address.
const namesCaFile = join(tlsDir, 'names-ca.pem');
const serverTls = (names: boolean): readonly (readonly [string, string])[] => [
  ['tls-cert-file', join(tlsDir, names ? 'names-redis.pem' : 'redis.pem')],
  ['tls-key-file', join(tlsDir, names ? 'names-redis-key.pem' : 'redis-key.pem')],
  ['tls-ca-cert-file', names ? namesCaFile : caFile],
  ['tls-auth-clients', 'no'],
];

/**
 * A redis-server taking TLS on `tlsPort`, and plain TCP on its own port for the set-up's checks.
 * Another process may take `tlsPort` before the server listens on it: it is chosen again then.
 */
async function tlsServer(options: { extraArgs?: readonly string[]; config?: readonly string[]; sentinel?: boolean; names?: boolean } = {}): Promise<{ server: RedisServer; tlsPort: number }> {
  for (let attempt = 1; ; attempt++) {
    const tlsPort = await freePort();
    const settings = [['tls-port', String(tlsPort)], ...serverTls(options.names === true)];
    try {
      const server = options.sentinel === true
        // A sentinel takes its settings from its file.
        ? await RedisServer.start({ sentinel: true, config: [...(options.config ?? []), ...settings.map(([name, value]) => `${name} ${value}`), 'tls-replication yes'] })
        : await RedisServer.start({ extraArgs: [...settings.flatMap(([name, value]) => [`--${name}`, value]), ...(options.extraArgs ?? [])] });
      return { server, tlsPort };
    } catch (error) {
      if (!(error instanceof PortTakenError) || attempt === 5) throw error;
    }
  }
}

const setups: CacheSetup[] = [];
const servers: RedisServer[] = [];
const stops: (() => void)[] = [];
afterAll(async () => {
  for (const stop of stops) stop();
  await Promise.all(setups.map((setup) => setup.close()));
  await Promise.all(servers.map((server) => server.stop()));
});

/** The cache as createService builds it, TLS options read from the configuration. */
async function cacheFromEnv(env: Record<string, string>): Promise<CacheSetup> {
  const config = loadConfig({ CACHE_MEMORY_ENTRIES: '0', CACHE_PREFIX: uniquePrefix(), REDIS_COMMAND_TIMEOUT_MS: '1000', ...env });
  const setup = await cacheFromConfig(config, { tls: await redisTlsFromConfig(config) });
  setups.push(setup);
  return setup;
}

describe('Redis over TLS', () => {
  it('reaches a standalone Redis at a rediss:// URL, trusting the CAs of REDIS_TLS_CA_FILE, and not without them', async () => {
    const { server, tlsPort } = await tlsServer();
    servers.push(server);
    const untrusted = await cacheFromEnv({ REDIS_URL: `rediss://127.0.0.1:${tlsPort}` });
    await servesFromRedis(await cacheFromEnv({ REDIS_URL: `rediss://127.0.0.1:${tlsPort}`, REDIS_TLS_CA_FILE: caFile }));
    expect(untrusted.redisState()).toBe('down');
  });

  it('finds the master through Sentinels over TLS with REDIS_TLS=true', async () => {
    const master = await tlsServer();
    servers.push(master.server);
    const sentinel = await tlsServer({ sentinel: true, config: [`sentinel monitor pdp-master 127.0.0.1 ${master.tlsPort} 1`] });
    servers.push(sentinel.server);
    const env = { REDIS_SENTINELS: `127.0.0.1:${sentinel.tlsPort}`, REDIS_SENTINEL_NAME: 'pdp-master' };
    const plain = await cacheFromEnv(env);
    await servesFromRedis(await cacheFromEnv({ ...env, REDIS_TLS: 'true', REDIS_TLS_CA_FILE: caFile }));
    expect(plain.redisState()).toBe('down');
  });

  it('uses a Redis Cluster over TLS with REDIS_TLS=true', async () => {
    const { server, tlsPort } = await tlsServer({ extraArgs: ['--tls-cluster', 'yes', '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-announce-ip', '127.0.0.1'] });
    servers.push(server);
    const admin = new Redis(server.url);
    stops.push(() => admin.disconnect());
    await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
    await eventually('the cluster to be ok', async () => String(await admin.call('CLUSTER', 'INFO')).includes('cluster_state:ok'), 10_000);
    await servesFromRedis(await cacheFromEnv({ REDIS_CLUSTER_NODES: `127.0.0.1:${tlsPort}`, REDIS_TLS: 'true', REDIS_TLS_CA_FILE: caFile }));
  });

  it('uses a Redis Cluster over TLS whose nodes are named by host, their certificates naming no address', async () => {
    const { server, tlsPort } = await tlsServer({
      names: true,
      extraArgs: ['--tls-cluster', 'yes', '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-announce-ip', '127.0.0.1', '--cluster-announce-hostname', 'localhost', '--cluster-preferred-endpoint-type', 'hostname'],
    });
    servers.push(server);
    const admin = new Redis(server.url);
    stops.push(() => admin.disconnect());
    await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
    await eventually('the cluster to be ok', async () => String(await admin.call('CLUSTER', 'INFO')).includes('cluster_state:ok'), 10_000);
    await servesFromRedis(await cacheFromEnv({ REDIS_CLUSTER_NODES: `localhost:${tlsPort}`, REDIS_TLS: 'true', REDIS_TLS_CA_FILE: namesCaFile }));
  });

  it('hears failovers from Sentinels over TLS', async () => {
    const { server, tlsPort } = await tlsServer();
    servers.push(server);
    const publisher = new Redis(server.url);
    stops.push(() => publisher.disconnect());
    let switched = 0;
    const ca = readFileSync(caFile, 'utf8');
    stops.push(watchSwitchMaster([{ host: '127.0.0.1', port: tlsPort }], 'pdp-master', () => (switched += 1), { tls: { ca } }));
    await eventually('the watch to hear a failover', async () => {
      await publisher.publish('+switch-master', 'pdp-master 10.0.0.1 6379 10.0.0.2 6379');
      return switched === 1;
    });
  });
});

describe('REDIS_TLS and REDIS_TLS_CA_FILE', () => {
  it('are refused where they would not apply', () => {
    expect(problemsOf({ REDIS_URL: 'redis://a:6379', REDIS_TLS: 'true' })).toContain('REDIS_TLS: with REDIS_URL, ask for TLS with rediss://');
    expect(problemsOf({ REDIS_TLS: 'true' })).toContain('REDIS_TLS: applies to REDIS_CLUSTER_NODES and REDIS_SENTINELS: set one of them too');
    const caOnly = "REDIS_TLS_CA_FILE: the CAs of Redis's TLS certificates: set REDIS_TLS=true, or a rediss:// REDIS_URL";
    expect(problemsOf({ REDIS_URL: 'redis://a:6379', REDIS_TLS_CA_FILE: caFile })).toContain(caOnly);
    expect(problemsOf({ REDIS_CLUSTER_NODES: 'a:7000', REDIS_TLS_CA_FILE: caFile })).toContain(caOnly);
    expect(problemsOf({ REDIS_TLS: 'yes', REDIS_CLUSTER_NODES: 'a:7000' }).join('\n')).toContain('REDIS_TLS');
  });

  it.each([
    ['cannot be read', async () => '/nonexistent/ca.pem', /^invoice-pdp: REDIS_TLS_CA_FILE: \/nonexistent\/ca\.pem: ENOENT/],
    ['holds no certificate', async (dir: string) => write(dir, 'key.pem', readFileSync(join(tlsDir, 'redis-key.pem'), 'utf8')), /: holds no PEM certificate \(-----BEGIN CERTIFICATE-----\)\n$/],
    ['holds a broken certificate', async (dir: string) => write(dir, 'broken.pem', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'), /: certificate 1 is not one: /],
  ])('stops the start, naming the file, when the CA file %s', async (_, file, message) => {
    const path = await file(await tempDir());
    const { code, stderr } = await runServerToExit({ POLICY_DIR: join(import.meta.dirname, '../policies'), REDIS_CLUSTER_NODES: '127.0.0.1:1', REDIS_TLS: 'true', REDIS_TLS_CA_FILE: path });
    expect(code).toBe(1);
    expect(stderr).toMatch(message);
    expect(stderr).toContain(`REDIS_TLS_CA_FILE: ${path}: `);
  });
});

async function write(dir: string, name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}
