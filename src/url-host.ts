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

/**
 * RFC 9110 §7.2's Host: uri-host [":" port] (RFC 3986 §3.2.2, §3.2.3), an IP literal (an IPv6
 * address, its syntax checked apart, or IPvFuture), an IPv4 address or a reg-name, and a port
 * of digits, possibly none. Group 1 is the IPv6 address.
 */
const hostField = /^(?:\[(?:v[0-9a-f]+\.[\w\-.~!$&'()*+,;=:]+|([0-9a-f:.]+))\]|(?:[\w\-.~!$&'()*+,;=]|%[0-9a-f]{2})*)(?::\d*)?$/i;

/**
 * Whether `field` is a valid value of a Host header (RFC 9110 §7.2): not `a b`, `a"b`, `{a}`, a
 * user (`a@b`) or an IPv6 zone (`[fe80::1%25eth0]`), though a URL parser takes some of them.
 */
export function isHostField(field: string): boolean {
  const parts = hostField.exec(field);
  return parts !== null && (parts[1] === undefined || isIPv6(parts[1]));
}

/**
 * A Host header's value, one that isHostField, as the host of an http URL, as the WHATWG URL
 * parser writes it: a name in lower case and percent-decoded, an IPv6 address in its shortest
 * form, no default or empty port (`LOCALHOST:8080` → `localhost:8080`, `[::0]:8080` →
 * `[::]:8080`, `127.0.0.1:80` → `127.0.0.1`). `field` itself when no URL holds it (`a:99999`).
 */
export function hostFieldAsUrlHost(field: string): string {
  const url = `http://${field}`;
  return URL.canParse(url) ? new URL(url).host : field;
}
