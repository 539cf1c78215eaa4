import { loadConfig } from './config.js';

/**
 * The address to ask for the service listening on `host`: a wildcard (all IPv4 or all IPv6
 * interfaces) is reached on loopback, a named address on itself, where loopback finds nothing
 * listening (HOST=10.0.0.5).
 */
function healthHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * The container's health check (Dockerfile HEALTHCHECK): GET /healthz where the service listens,
 * HOST and PORT read as the service reads them (spaces around a value included); exit 0 when it
 * answers 200 within 2.5 s, 1 otherwise, a configuration the service would refuse included.
 */
async function check(): Promise<boolean> {
  try {
    const config = loadConfig();
    const res = await fetch(`http://${healthHost(config.HOST)}:${config.PORT}/healthz`, { signal: AbortSignal.timeout(2_500) });
    return res.ok;
  } catch {
    return false;
  }
}

process.exitCode = (await check()) ? 0 : 1;
