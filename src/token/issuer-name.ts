import { refusedBy } from './exact-name.js';
import { stringOrUriProblem } from './string-or-uri.js';
import { secondUrlProblem } from './url-list.js';

/** Why it matters: the verifier for a token is picked by its `iss`, compared exactly. */
const consequence = 'a token\'s "iss" is compared exactly, so every token of this issuer would be denied as of an unknown issuer';

/**
 * Why `issuer` can be no token's `iss`, or undefined when it can: what no StringOrURI can be
 * (see `stringOrUriProblem`), and, as an OpenID Connect or OAuth issuer (OIDC Discovery §3,
 * RFC 8414 §2) is an http(s) URL without query or fragment, an http(s) one that is not (a
 * discovery URL's query), or that is its discovery URL (a `/.well-known/` path).
 */
export function issuerProblem(issuer: string): string | undefined {
  const problem = stringOrUriProblem(issuer, 'an issuer');
  if (problem !== undefined) return `${problem}; ${consequence}`;
  const listed = secondUrlProblem(issuer, 'give one issuer, and list several in TOKEN_CONFIG_FILE');
  if (listed !== undefined) return listed;
  if (!/^https?:/i.test(issuer)) return undefined;
  if (!URL.canParse(issuer) || new URL(issuer).hostname === '') return `is not an http(s) URL with a host; ${consequence}`;
  if (issuer.includes('?') || issuer.includes('#')) return `has a ${issuer.includes('?') ? 'query' : 'fragment'}, which an issuer URL never has (OpenID Connect Discovery §3, RFC 8414 §2): give the issuer, not a discovery or key set URL`;
  // Its discovery document is at the issuer with `/.well-known/…` put after (OIDC) or before (RFC 8414) its path.
  if (/\/\.well-known(?:\/|$)/i.test(new URL(issuer).pathname)) {
    return 'is a discovery URL (a /.well-known/ path), which an issuer never is (OpenID Connect Discovery §4, RFC 8414 §3): give the issuer, the "issuer" its document names';
  }
  return undefined;
}

/** An issuer name (JWT_ISSUER, INTROSPECTION_JWT_ISSUER, an `issuer` of TOKEN_CONFIG_FILE), refused as `issuerProblem` says. */
export const issuerName = refusedBy(issuerProblem);
