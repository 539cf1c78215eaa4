const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const NEWLINE = 0x0a;

/** The first line (from 1) holding bytes that are not UTF-8; a newline byte is never part of a longer character. */
function firstBadLine(bytes: Uint8Array): number {
  let line = 1;
  for (let start = 0; start < bytes.length; line++) {
    const end = bytes.indexOf(NEWLINE, start);
    const stop = end === -1 ? bytes.length : end;
    try {
      strictUtf8.decode(bytes.subarray(start, stop));
    } catch {
      return line;
    }
    start = stop + 1;
  }
  return line;
}

/**
 * The text of a policy, entity or test file, which must be UTF-8 without a byte order mark.
 * Read leniently, a BOM would come out as a garbled JSON syntax error, and bytes that are not
 * UTF-8 as U+FFFD: a condition comparing with such a literal would silently never match.
 * UTF-16 and UTF-32 are recognised by a BOM or, as RFC 4627 §3 does, by a NUL among the first
 * two bytes: JSON text starts with an ASCII character, which they write with NUL bytes. A NUL
 * further on is left to the JSON parse, which places it: `00` after the text of a file saved as
 * UTF-8 is no sign of UTF-16.
 */
export function decodeSource(bytes: Uint8Array): { readonly text: string } | { readonly message: string } {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    return { message: 'starts with a byte order mark: save as UTF-8 without BOM' };
  }
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff) || bytes[0] === 0 || bytes[1] === 0) {
    return { message: 'not UTF-8 (UTF-16 or UTF-32, it seems): save as UTF-8 without BOM' };
  }
  try {
    return { text: strictUtf8.decode(bytes) };
  } catch {
    return { message: `not UTF-8: line ${firstBadLine(bytes)} holds bytes that are not valid UTF-8; save as UTF-8` };
  }
}
