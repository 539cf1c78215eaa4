/**
 * Characters a line written for a terminal (`pdp` output, the server's start-up problems on
 * stderr) must not carry as they are, from text a file or setting gives (a case or group name, a
 * file name, a key): controls (C0 but tab, DEL, C1), the line and paragraph separators, and lone
 * surrogates. A name holding a line break or an escape sequence printed a line of its own
 * (`✓ every case`) or drove the terminal.
 */
const unprintable = new RegExp(String.raw`[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]`, 'gu');

/** A character as `\u{…}`, its code point in hex: how one a line cannot hold is written. */
export const codePointEscape = (c: string): string => `\\u{${c.codePointAt(0)?.toString(16) ?? ''}}`;

/** `text` with each character that would break a line or reach the terminal as a control written as `\u{…}`. */
export function printable(text: string): string {
  return text.replace(unprintable, codePointEscape);
}
