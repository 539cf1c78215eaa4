import { BACKSLASH, CLOSE_ARRAY, CLOSE_OBJECT, COMMA, OPEN_ARRAY, OPEN_OBJECT, QUOTE } from './json-chars.js';

/** An array or object open where a scan of JSON text is. */
export interface JsonScope {
  readonly object: boolean;
  /** In an array, the element the scan is in. */
  index: number;
  /** In an object, the member the scan is in: its key as the parser reads it. */
  key: string;
  /** In an object, the next string is a key. */
  expectKey: boolean;
}

/** What a scan reports; a callback answering true ends it there. */
export interface JsonVisitor {
  /** A key read: it is the `key` of the last scope. */
  readonly key?: (scopes: readonly JsonScope[]) => boolean;
  /** A number read, as written, in the member or element of the last scope (if any). */
  readonly number?: (written: string, scopes: readonly JsonScope[]) => boolean;
}

/** Where the scan is, as a path: each scope's key or index (`["rules", 0, "effect"]`). */
export const pathOf = (scopes: readonly JsonScope[]): (string | number)[] => scopes.map((scope) => (scope.object ? scope.key : scope.index));

/** Where the string opened at `open` ends: the next quote not escaped by an odd run of backslashes. */
function closingQuote(text: string, open: number): number {
  let at = text.indexOf('"', open + 1);
  for (; at !== -1; at = text.indexOf('"', at + 1)) {
    let before = at - 1;
    while (text.charCodeAt(before) === BACKSLASH) before--;
    if ((at - before) % 2 === 1) return at;
  }
  return text.length;
}

/** The key a string token spells: only a key with escapes needs the parser to read it. */
function keyOf(text: string, start: number, end: number): string {
  const raw = text.slice(start, end);
  return raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
}

const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;
const numberToken = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/**
 * Scans well-formed JSON text once, token by token, without recursion, telling `visitor` of each
 * key and number with the scopes open around it; true when a callback ended the scan. Run after
 * the text parsed and its depth was checked.
 */
export function scanJson(text: string, visitor: JsonVisitor): boolean {
  const scopes: JsonScope[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const top = scopes.at(-1);
    if (c === QUOTE) {
      const start = i;
      i = closingQuote(text, i);
      if (top?.object !== true || !top.expectKey) continue;
      top.expectKey = false;
      top.key = keyOf(text, start, i + 1);
      if (visitor.key?.(scopes) === true) return true;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      const object = c === OPEN_OBJECT;
      scopes.push({ object, index: 0, key: '', expectKey: object });
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      scopes.pop();
    } else if (c === COMMA && top !== undefined) {
      if (top.object) top.expectKey = true;
      else top.index++;
    } else if (visitor.number !== undefined && (c === MINUS || (c >= ZERO && c <= NINE))) {
      numberToken.lastIndex = i;
      const written = numberToken.exec(text)?.[0] ?? text[i] ?? '';
      if (visitor.number(written, scopes)) return true;
      i += written.length - 1;
    }
  }
  return false;
}
