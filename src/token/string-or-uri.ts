import { exactNameProblem } from './exact-name.js';

/**
 * Why `value`, a setting a token's StringOrURI claim (`iss`, `aud`) is compared with exactly,
 * can equal no such claim, or undefined when it can; `noun` names it (`an issuer`). A StringOrURI
 * (RFC 7519 §2) is any string, but a URI when it holds a `:`. What is refused is what a copy
 * picks up on the way (see `exactNameProblem`; a scheme cut off), not a value that merely looks
 * odd: `Acme IdP` is taken.
 */
export function stringOrUriProblem(value: string, noun: string): string | undefined {
  const problem = exactNameProblem(value);
  if (problem !== undefined) return problem;
  if (!value.includes(':')) return undefined;
  if (!/^[a-z][a-z\d+.-]*:/i.test(value)) return `holds ":" but does not begin with a URI scheme (${noun} with ":" is a URI, RFC 7519 §2)`;
  if (/\s/u.test(value)) return `holds whitespace, which a URI never does (${noun} with ":" is a URI, RFC 7519 §2)`;
  return undefined;
}
