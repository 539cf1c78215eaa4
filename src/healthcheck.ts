import { get } from 'node:http';
import { loadConfig } from './config.js';

/**
 * The address to ask for the service listening on `host`: a wildcard (all IPv4 or all IPv6
 * interfaces) is reached on loopback, a named address on itself, where loopback finds nothing
 * listening (HOST=10.0.0.5), an IPv6 one with its zone (HOST=fe80::1%eth0) included.
 */
function healthHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

/** The Host header for `host`: an IPv6 address in brackets and without its zone, which no URL can hold. */
function hostHeader(host: string, port: number): string {
  return host.includes(':') ? `[${host.replace(/%.*$/, '')}]:${port}` : `${host}:${port}`;
}

/**
 * The container's health check (Dockerfile HEALTHCHECK): GET /healthz where the service listens,
 * HOST and PORT read as the service reads them (spaces around a value included); exit 0 when it
 * answers 200 within 2.5 s, 1 otherwise, a configuration the service would refuse included.
 * Asked with node:http rather than fetch, whose URL cannot name an IPv6 address's zone.
 */
function check(): Promise<boolean> {
  return new Promise((done) => {
    try {
      const config = loadConfig();
      const host = healthHost(config.HOST);
      const request = get(
        { host, port: config.PORT, path: '/healthz', headers: { host: hostHeader(host, config.PORT) }, signal: AbortSignal.timeout(2_500) },
        (res) => {
          done(res.statusCode === 200);
          res.destroy();
        },
      );
      request.on('error', () => done(false));
    } catch {
      done(false);
    }
  });
}

process.exitCode = (await check()) ? 0 : 1;
