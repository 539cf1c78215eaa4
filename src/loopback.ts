/**
 * Whether a URL's `hostname` (as `new URL` writes it) is this machine's loopback: `localhost`,
 * 127.0.0.0/8 or `[::1]`. The parser has already normalised other spellings (`127.1`,
 * `0x7f.0.0.1`, `[0:0::1]`), as fetch reads them.
 */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}
