import { isIPv6 } from 'node:net';

/**
 * `host` (a name, or an IPv4 or IPv6 address, with or without a zone) as the host of a URL, as
 * the WHATWG URL parser writes it: an IPv6 address in brackets, in its shortest form
 * (`0:0:0:0:0:0:0:1` → `[::1]`, `::0` → `[::]`) and without its zone (`fe80::1%eth0`), which no
 * URL holds. @hono/node-server refuses a host the parser would write otherwise (400).
 */
export function urlHost(host: string): string {
  const address = host.replace(/%.*$/, '');
  return isIPv6(address) ? new URL(`http://[${address}]`).host : host;
}
