/**
 * Characters a line of `pdp test` output must not carry as they are, from text a file gives (a
 * case or group name, a file name): controls (C0 but tab, DEL, C1), the line and paragraph
 * separators, and lone surrogates. A name holding a line break or an escape sequence printed a
 * line of its own (`✓ every case`) or drove the terminal.
 */
const unprintable = new RegExp(String.raw`[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]`, 'gu');

/** A character as `\u{…}`, its code point in hex: how the CLI writes one its output cannot hold. */
export const codePointEscape = (c: string): string => `\\u{${c.codePointAt(0)?.toString(16) ?? ''}}`;

/** `text` with each character that would break a line or reach the terminal as a control written as `\u{…}`. */
export function printable(text: string): string {
  return text.replace(unprintable, codePointEscape);
}
