const codePoint = (char: string) => `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;

/**
 * Why `value`, a setting compared exactly with what a token holds (an `iss`, an `aud`, a claim's
 * name), can equal nothing a token holds, or undefined when it may: whitespace around it or a
 * control or invisible character in it, which a copy picks up on the way (a space from a
 * ConfigMap, a zero-width space or a soft hyphen from a web page, a BOM) and no issuer sends.
 * Whitespace within is taken: `Acme IdP` may be a name.
 */
export function exactNameProblem(value: string): string | undefined {
  const edge = /^\s|\s$/u.exec(value)?.[0];
  if (edge !== undefined) return `${value.startsWith(edge) ? 'begins' : 'ends'} with whitespace (${codePoint(edge)})`;
  const unseen = /[\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}]/u.exec(value)?.[0];
  if (unseen !== undefined) return `holds a control or invisible character (${codePoint(unseen)})`;
  return undefined;
}
