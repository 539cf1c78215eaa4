import { isLoopbackHost } from '../loopback.js';

/**
 * Whether a token URL (a key set, an introspection endpoint) is plain http:// to a host other
 * than this machine's loopback (localhost, 127.0.0.0/8, ::1). Over such a URL anyone on the path
 * can serve a key set of their own and sign tokens with it, answer `"active": true` for any
 * token, or read the introspection client secret. The host is read as fetch will read it
 * (`127.1` and `0x7f.0.0.1` are 127.0.0.1, `[0:0::1]` is `[::1]`); a URL that does not parse is
 * left to the URL checks.
 */
export function isPlainHttpRemote(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:') return false;
  return !isLoopbackHost(url.hostname);
}

/** Why a plain-http token URL is refused, and how to go on; never quotes the URL. */
export const plainHttpProblem =
  'plain http:// to a host that is not loopback (localhost, 127.0.0.0/8, ::1): anyone on the path could forge tokens or read the client secret; use https://, or set ALLOW_HTTP_TOKEN_URLS=true to accept the risk (e.g. a sidecar on a trusted network)';
