import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultPolicyDir } from './helpers/app.js';
import { repoRoot } from './helpers/process.js';
import { spawnServer } from './helpers/spawn-server.js';

const healthcheck = resolve(repoRoot, 'dist/healthcheck.js');

/** The exit code of the health check run with `env` alone, as the container runs it, and what it wrote on stderr. */
function runHealthcheckSaying(env: Record<string, string>): Promise<{ readonly code: number | null; readonly stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [healthcheck], { env: { PATH: process.env['PATH'] ?? '', ...env }, timeout: 10_000 }, (error, _, stderr) => {
      done({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stderr });
    });
  });
}

/** The exit code of the health check run with `env` alone, as the container runs it. */
async function runHealthcheck(env: Record<string, string>): Promise<number | null> {
  return (await runHealthcheckSaying(env)).code;
}

describe('the container health check (dist/healthcheck.js)', () => {
  it('is what the Dockerfile runs', async () => {
    const dockerfile = await readFile(resolve(repoRoot, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\\\n\s+CMD \["node", "dist\/healthcheck\.js"\]$/m);
  });

  it('asks the address the service listens on, HOST and PORT read as the service reads them', async () => {
    // A named address other than 127.0.0.1: asking loopback there found nothing listening.
    const server = spawnServer({ POLICY_DIR: defaultPolicyDir, HOST: '127.0.0.2' });
    try {
      const port = String(await server.listening);
      expect(await runHealthcheck({ HOST: '127.0.0.2', PORT: port })).toBe(0);
      expect(await runHealthcheck({ HOST: ' 127.0.0.2 ', PORT: `${port}\r` })).toBe(0);
      expect(await runHealthcheck({ HOST: '127.0.0.1', PORT: port })).toBe(1);
    } finally {
      server.child.kill();
      await server.exited;
    }
  });

  it('reaches a service listening on an IPv6 address with its zone, which no URL can hold', async () => {
    // A link-local address needs its zone (fe80::1%eth0); loopback's index, 1, stands in for it here.
    const server = spawnServer({ POLICY_DIR: defaultPolicyDir, HOST: '::1%1' });
    try {
      const port = String(await server.listening);
      expect(await runHealthcheck({ HOST: '::1%1', PORT: port })).toBe(0);
    } finally {
      server.child.kill();
      await server.exited;
    }
  });

  // Written otherwise than a URL writes it, an address was sent as the Host as it stood, which the
  // service refuses (400): the check failed against a healthy service.
  it.each([
    ['the loopback address written out in full', '0:0:0:0:0:0:0:1'],
    ['the unspecified address (every interface) written otherwise than ::', '::0'],
  ])('reaches a service listening on %s', async (_, host) => {
    const server = spawnServer({ POLICY_DIR: defaultPolicyDir, HOST: host });
    try {
      const port = String(await server.listening);
      expect(await runHealthcheck({ HOST: host, PORT: port })).toBe(0);
    } finally {
      server.child.kill();
      await server.exited;
    }
  });

  // A service on :: takes IPv4 connections too (Node listens there dual-stack). In a container
  // with IPv6 disabled (net.ipv6.conf.all.disable_ipv6=1, or a network without IPv6), it still
  // listens and answers on 127.0.0.1, but ::1 is no address: the check asked ::1 and failed
  // (connect EADDRNOTAVAIL), marking a healthy container unhealthy. A server on 127.0.0.1 alone
  // stands in for it here.
  it('reaches a service listening on :: through 127.0.0.1, which is there when IPv6 is disabled', async () => {
    const ipv4Only = createServer((_, res) => res.writeHead(200).end()).listen(0, '127.0.0.1');
    try {
      await once(ipv4Only, 'listening');
      const port = String((ipv4Only.address() as AddressInfo).port);
      for (const host of ['::', '::0', '0.0.0.0']) expect(await runHealthcheckSaying({ HOST: host, PORT: port }), host).toEqual({ code: 0, stderr: '' });
    } finally {
      ipv4Only.close();
    }
  });

  it('fails on an answer other than 200, and on a configuration the service would refuse', async () => {
    let status = 503;
    const other = createServer((_, res) => res.writeHead(status).end()).listen(0, '127.0.0.1');
    try {
      await once(other, 'listening');
      const env = { HOST: '127.0.0.1', PORT: String((other.address() as AddressInfo).port) };
      expect(await runHealthcheck(env)).toBe(1);
      status = 200;
      expect(await runHealthcheck(env)).toBe(0);
      expect(await runHealthcheck({ ...env, LOG_LEVEL: 'loud' })).toBe(1);
    } finally {
      other.close();
    }
  });

  it('fails, within the HEALTHCHECK\'s 3 s, on a service that takes the connection and never answers', async () => {
    const silent = createServer(() => undefined).listen(0, '127.0.0.1');
    try {
      await once(silent, 'listening');
      const started = performance.now();
      expect(await runHealthcheck({ HOST: '127.0.0.1', PORT: String((silent.address() as AddressInfo).port) })).toBe(1);
      // 2.5 s of waiting, and the process's start and exit on a loaded machine.
      expect(performance.now() - started).toBeGreaterThan(2_400);
      expect(performance.now() - started).toBeLessThan(6_000);
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });

  it('reaches a service listening on every interface through loopback, and fails once it is gone', async () => {
    const server = spawnServer({ POLICY_DIR: defaultPolicyDir, HOST: '0.0.0.0' });
    const port = String(await server.listening);
    expect(await runHealthcheck({ PORT: port })).toBe(0);
    server.child.kill();
    await server.exited;
    expect(await runHealthcheck({ PORT: port })).toBe(1);
  });

  // Docker keeps what the check writes as the health log (docker inspect): it was empty, however
  // the check failed, and with PORT=0 (a port the system picks) it failed for ever.
  it('says why it fails, and that PORT=0 leaves it no port to ask', async () => {
    const portZero = await runHealthcheckSaying({ PORT: '0' });
    expect(portZero.code).toBe(1);
    expect(portZero.stderr).toMatch(/^invoice-pdp healthcheck: PORT=0 .*set PORT to a port of its own\n$/);

    const refused = await runHealthcheckSaying({ HOST: '127.0.0.1', PORT: '1' });
    expect(refused).toEqual({ code: 1, stderr: 'invoice-pdp healthcheck: GET http://127.0.0.1:1/healthz: connect ECONNREFUSED 127.0.0.1:1\n' });

    const badConfig = await runHealthcheckSaying({ LOG_LEVEL: 'loud' });
    expect(badConfig.code).toBe(1);
    expect(badConfig.stderr).toMatch(/^invoice-pdp healthcheck: invalid configuration:\n {2}LOG_LEVEL: /);

    const other = createServer((_, res) => res.writeHead(503).end()).listen(0, '127.0.0.1');
    try {
      await once(other, 'listening');
      const port = String((other.address() as AddressInfo).port);
      expect(await runHealthcheckSaying({ HOST: '127.0.0.1', PORT: port })).toEqual({ code: 1, stderr: `invoice-pdp healthcheck: GET http://127.0.0.1:${port}/healthz: answered 503\n` });
    } finally {
      other.close();
    }
  });
});
