/** tchar (RFC 9110 §5.6.2), by character code: what a type, subtype, parameter name or unquoted value is made of. */
const tchar = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") tchar[c.charCodeAt(0)] = 1;

const SPACE = 0x20;
const TAB = 0x09;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const SEMICOLON = 0x3b;
const EQUALS = 0x3d;
const SLASH = 0x2f;

/** Where the token starting at `from` ends (`from` itself when there is none). */
function tokenEnd(text: string, from: number): number {
  let i = from;
  while (i < text.length && tchar[text.charCodeAt(i)] === 1) i++;
  return i;
}

function skipSpace(text: string, from: number): number {
  let i = from;
  while (i < text.length && (text.charCodeAt(i) === SPACE || text.charCodeAt(i) === TAB)) i++;
  return i;
}

/** Characters a quoted string may hold as they are (qdtext) or escaped (quoted-pair): tab, space, visible ASCII, obs-text. */
function quotable(code: number): boolean {
  return code === TAB || (code >= SPACE && code !== 0x7f && code <= 0xff);
}

/**
 * Where the quoted string starting at `from` (on its opening quote) ends, past its closing quote;
 * undefined when it is not one (unterminated, or a character no quoted string holds). Read
 * without building its value: built a character at a time, a value of a megabyte (a Content-Type
 * MAX_HEADER_BYTES allows) took 0.3-0.7 s, most of it collecting the million strings made.
 */
function quotedEnd(text: string, from: number): number | undefined {
  for (let i = from + 1; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === QUOTE) return i + 1;
    // A backslash quotes the character after it, whatever it is (a quote, a backslash).
    if (code === BACKSLASH) i++;
    if (!quotable(text.charCodeAt(i))) return undefined;
  }
  return undefined;
}

/** The value of the quoted string from `from` (its opening quote) to `end` (past its closing one), unescaped. */
function unquoted(text: string, from: number, end: number): string {
  return text.slice(from + 1, end - 1).replace(/\\([\s\S])/g, '$1');
}

/** Whether `text` from `from` to `to` is `lower` (lower-case ASCII) but for case; no copy made. */
function isIgnoringCase(text: string, from: number, to: number, lower: string): boolean {
  if (to - from !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    const code = text.charCodeAt(from + i);
    if ((code >= 0x41 && code <= 0x5a ? code + 0x20 : code) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

function isUtf8(text: string, from: number, to: number): boolean {
  return isIgnoringCase(text, from, to, 'utf-8') || isIgnoringCase(text, from, to, 'utf8');
}

/** Whether the subtype from `from` to `to` names JSON: `json`, or a `+json` structured syntax suffix (RFC 6839 §3.1). */
function isJsonSubtype(text: string, from: number, to: number): boolean {
  return isIgnoringCase(text, from, to, 'json') || (to - from > 5 && isIgnoringCase(text, to - 5, to, '+json'));
}

/**
 * Whether a Content-Type declares JSON in UTF-8: the media type (RFC 9110 §8.3.1) is
 * `application/json` or an `application/…+json` type, its parameters are well formed
 * (`; name=value`, the value a token or a quoted string) and every `charset` among them is
 * UTF-8. A charset named inside another parameter's quoted value is that value, not a charset.
 */
export function isJsonUtf8(contentType: string): boolean {
  if (contentType === 'application/json') return true;
  const slash = tokenEnd(contentType, 0);
  if (!isIgnoringCase(contentType, 0, slash, 'application') || contentType.charCodeAt(slash) !== SLASH) return false;
  let i = tokenEnd(contentType, slash + 1);
  if (!isJsonSubtype(contentType, slash + 1, i)) return false;
  for (;;) {
    i = skipSpace(contentType, i);
    if (i === contentType.length) return true;
    if (contentType.charCodeAt(i) !== SEMICOLON) return false;
    i = skipSpace(contentType, i + 1);
    // An empty parameter (`;;`, a trailing `;`) is allowed by the grammar.
    if (i === contentType.length || contentType.charCodeAt(i) === SEMICOLON) continue;
    const nameEnd = tokenEnd(contentType, i);
    if (nameEnd === i || contentType.charCodeAt(nameEnd) !== EQUALS) return false;
    const charset = isIgnoringCase(contentType, i, nameEnd, 'charset');
    if (contentType.charCodeAt(nameEnd + 1) === QUOTE) {
      const end = quotedEnd(contentType, nameEnd + 1);
      if (end === undefined) return false;
      if (charset) {
        const value = unquoted(contentType, nameEnd + 1, end);
        if (!isUtf8(value, 0, value.length)) return false;
      }
      i = end;
    } else {
      i = tokenEnd(contentType, nameEnd + 1);
      if (i === nameEnd + 1 || (charset && !isUtf8(contentType, nameEnd + 1, i))) return false;
    }
  }
}
