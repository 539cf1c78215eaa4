import { z } from 'zod';

/** Why it matters: the verifier for a token is picked by its `iss`, compared exactly. */
const consequence = 'a token\'s "iss" is compared exactly, so every token of this issuer would be denied as of an unknown issuer';

const codePoint = (char: string) => `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;

/**
 * Why `issuer` can be no token's `iss`, or undefined when it can. An `iss` is a StringOrURI
 * (RFC 7519 §2): any string, but a URI when it holds a `:`; an OpenID Connect or OAuth issuer
 * (OIDC Discovery §3, RFC 8414 §2) is an http(s) URL without query or fragment. What is refused
 * is what a copy picks up on the way (a space from a ConfigMap, a zero-width space from a web
 * page, a discovery URL's query), not a name that merely looks odd: `Acme IdP` is taken.
 */
export function issuerProblem(issuer: string): string | undefined {
  const edge = /^\s|\s$/u.exec(issuer)?.[0];
  if (edge !== undefined) return `${issuer.startsWith(edge) ? 'begins' : 'ends'} with whitespace (${codePoint(edge)}); ${consequence}`;
  const unseen = /[\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}]/u.exec(issuer)?.[0];
  if (unseen !== undefined) return `holds a control or invisible character (${codePoint(unseen)}); ${consequence}`;
  if (!issuer.includes(':')) return undefined;
  if (!/^[a-z][a-z\d+.-]*:/i.test(issuer)) return `holds ":" but does not begin with a URI scheme (an issuer with ":" is a URI, RFC 7519 §2); ${consequence}`;
  if (/\s/u.test(issuer)) return `holds whitespace, which a URI never does (an issuer with ":" is a URI, RFC 7519 §2); ${consequence}`;
  if (!/^https?:/i.test(issuer)) return undefined;
  if (!URL.canParse(issuer) || new URL(issuer).hostname === '') return `is not an http(s) URL with a host; ${consequence}`;
  if (issuer.includes('?') || issuer.includes('#')) return `has a ${issuer.includes('?') ? 'query' : 'fragment'}, which an issuer URL never has (OpenID Connect Discovery §3, RFC 8414 §2): give the issuer, not a discovery or key set URL`;
  return undefined;
}

/** An issuer name (JWT_ISSUER, INTROSPECTION_JWT_ISSUER, an `issuer` of TOKEN_CONFIG_FILE), refused as `issuerProblem` says. */
export const issuerName = z.string().min(1).superRefine((issuer, ctx) => {
  const problem = issuerProblem(issuer);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});
