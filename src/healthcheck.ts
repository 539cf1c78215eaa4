import { get } from 'node:http';
import { loadConfig } from './config.js';
import { urlHost } from './url-host.js';

/**
 * The address to ask for the service listening on `host`: a wildcard (all IPv4 or all IPv6
 * interfaces, `::` however written) is reached on loopback, a named address on itself, where
 * loopback finds nothing listening (HOST=10.0.0.5), an IPv6 one with its zone (HOST=fe80::1%eth0)
 * included.
 */
function healthHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (urlHost(host) === '[::]') return '::1';
  return host;
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
        { host, port: config.PORT, path: '/healthz', headers: { host: `${urlHost(host)}:${config.PORT}` }, signal: AbortSignal.timeout(2_500) },
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
