const codePoint = (char: string) => `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;

/**
 * Why `value`, a setting a token's StringOrURI claim (`iss`, `aud`) is compared with exactly,
 * can equal no such claim, or undefined when it can; `noun` names it (`an issuer`). A StringOrURI
 * (RFC 7519 §2) is any string, but a URI when it holds a `:`. What is refused is what a copy
 * picks up on the way (a space from a ConfigMap, a zero-width space from a web page, a scheme
 * cut off), not a value that merely looks odd: `Acme IdP` is taken.
 */
export function stringOrUriProblem(value: string, noun: string): string | undefined {
  const edge = /^\s|\s$/u.exec(value)?.[0];
  if (edge !== undefined) return `${value.startsWith(edge) ? 'begins' : 'ends'} with whitespace (${codePoint(edge)})`;
  const unseen = /[\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}]/u.exec(value)?.[0];
  if (unseen !== undefined) return `holds a control or invisible character (${codePoint(unseen)})`;
  if (!value.includes(':')) return undefined;
  if (!/^[a-z][a-z\d+.-]*:/i.test(value)) return `holds ":" but does not begin with a URI scheme (${noun} with ":" is a URI, RFC 7519 §2)`;
  if (/\s/u.test(value)) return `holds whitespace, which a URI never does (${noun} with ":" is a URI, RFC 7519 §2)`;
  return undefined;
}
