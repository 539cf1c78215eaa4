import { isIP } from 'node:net';

/** A TCP endpoint. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/**
 * A host name holds none of `@/?#`: a node written `password@host:6379` would be taken whole for
 * a host, never reached, and shown with its password in the start-up summary.
 */
const pattern = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]@/?#]+))(?::(\d{1,5}))?$/;

/** Parses `host`, `host:port` or `[ipv6]:port`; undefined when the text is not one of those. */
export function parseHostPort(text: string, defaultPort: number): HostPort | undefined {
  const match = pattern.exec(text.trim());
  if (match === null) return undefined;
  // Brackets hold an address (`[1::2::3]` was taken, and looked up as a name that never resolves).
  if (match[1] !== undefined && isIP(match[1]) === 0) return undefined;
  const host = match[1] ?? match[2] ?? '';
  const port = match[3] === undefined ? defaultPort : Number(match[3]);
  if (host === '' || port < 1 || port > 65_535) return undefined;
  return { host, port };
}
