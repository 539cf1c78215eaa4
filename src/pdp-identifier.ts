import { isLoopbackHost } from './loopback.js';

/**
 * The PDP identifier (AuthZEN 1.0, "PDP Metadata"): PUBLIC_URL, which the metadata advertises as
 * `policy_decision_point` exactly as configured. A PEP compares that value with the identifier it
 * used, character for character ("PDP Metadata Validation"), so the configured string must be the
 * one every URL parser gives back: a form the parser would change (`PDP.Example.com`, `:443`, a
 * trailing slash) is refused rather than silently rewritten.
 */

/** `url` in the only form PUBLIC_URL may take: no userinfo, query, fragment or trailing slash; host and port as the parser writes them. */
function canonicalForm(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

/** What is wrong with `value` as the PDP identifier, one message each; empty when nothing is. */
export function pdpIdentifierProblems(value: string): string[] {
  if (!URL.canParse(value)) return ['not a URL'];
  const url = new URL(value);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return ['must be an https:// URL'];
  const problems: string[] = [];
  const canonical = canonicalForm(url);
  if (value !== canonical) {
    problems.push(
      'must be the PDP identifier exactly as PEPs compare it, in the form a URL parser gives back (lower-case host, no default port, ' +
        `no user or password, query, fragment or trailing slash): write it as ${canonical}`,
    );
  }
  // The path goes into the metadata's path and the endpoints' routes, which match it as written.
  if (!/^(?:\/[\w.~-]+)*\/?$/.test(url.pathname)) problems.push('a path only of letters, digits, "-", ".", "_" and "~" between single slashes');
  if (url.protocol !== 'https:' && !isLoopbackHost(url.hostname)) {
    problems.push('must use https (AuthZEN requires it of the PDP identifier); http is allowed only for a loopback host (localhost, 127.0.0.0/8, [::1])');
  }
  // Advertised as the base of the endpoints' URLs: on port 0 a PEP following the metadata reaches nothing.
  if (url.port === '0') problems.push('port 0 is no port a client connects to: give the port PEPs reach the service on');
  if (/^\/admin(?:\/|$)/.test(url.pathname)) problems.push('its path must not begin with /admin, where the AuthZEN endpoints would be behind the admin keys');
  return problems;
}

/**
 * The path of a valid identifier (`/authz`, or empty): the AuthZEN endpoints are also served
 * under it, and the metadata at `/.well-known/authzen-configuration<path>`. Throws for an
 * identifier config would refuse, so nothing advertises a string other than the one configured.
 */
export function pdpIdentifierPath(identifier: string): string {
  const problems = pdpIdentifierProblems(identifier);
  if (problems.length > 0) throw new Error(`PUBLIC_URL: ${problems.join('; ')}`);
  return new URL(identifier).pathname.replace(/\/$/, '');
}
