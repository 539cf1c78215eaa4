import { get } from 'node:http';
import { loadConfig } from './config.js';
import { urlHost } from './url-host.js';

/**
 * The address to ask for the service listening on `host`: a wildcard (all IPv4 or all IPv6
 * interfaces, `::` however written) is reached on 127.0.0.1, a named address on itself, where
 * loopback finds nothing listening (HOST=10.0.0.5), an IPv6 one with its zone (HOST=fe80::1%eth0)
 * included. Node listens on `::` dual-stack, so IPv4 reaches it too; ::1 is no address in a
 * container with IPv6 disabled (net.ipv6.conf.all.disable_ipv6=1), where the service listens and
 * answers all the same.
 */
function healthHost(host: string): string {
  return host === '0.0.0.0' || urlHost(host) === '[::]' ? '127.0.0.1' : host;
}

/**
 * The container's health check (Dockerfile HEALTHCHECK): GET /healthz where the service listens,
 * HOST and PORT read as the service reads them (spaces around a value included); resolves with
 * undefined when it answers 200 within 2.5 s, otherwise with why not, a configuration the service
 * would refuse included, and PORT=0, whose port the system picks and this check cannot know.
 * Asked with node:http rather than fetch, whose URL cannot name an IPv6 address's zone.
 */
function check(): Promise<string | undefined> {
  return new Promise((done) => {
    try {
      const config = loadConfig();
      if (config.PORT === 0) {
        done('PORT=0 lets the system pick the port the service listens on, which this check cannot know: set PORT to a port of its own');
        return;
      }
      const host = healthHost(config.HOST);
      const target = `http://${urlHost(host)}:${config.PORT}`;
      const asked = `GET ${target}/healthz`;
      const request = get(
        { host, port: config.PORT, path: '/healthz', headers: { host: `${urlHost(host)}:${config.PORT}` }, signal: AbortSignal.timeout(2_500) },
        (res) => {
          done(res.statusCode === 200 ? undefined : `${asked}: answered ${String(res.statusCode)}`);
          res.destroy();
        },
      );
      request.on('error', (error) => done(`${asked}: ${error.name === 'AbortError' ? 'no answer within 2.5 s' : error.message}`));
    } catch (error) {
      done(error instanceof Error ? error.message : String(error));
    }
  });
}

// Docker keeps what the check writes as the container's health log (docker inspect).
const failure = await check();
if (failure !== undefined) process.stderr.write(`invoice-pdp healthcheck: ${failure}\n`);
process.exitCode = failure === undefined ? 0 : 1;
