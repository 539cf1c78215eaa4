import { BACKSLASH, CLOSE_ARRAY, CLOSE_OBJECT, COMMA, OPEN_ARRAY, OPEN_OBJECT, QUOTE } from '../json-chars.js';

interface Frame {
  /** The keys seen so far in an object; undefined for an array. */
  readonly keys: Set<string> | undefined;
  /** In an array, the element the scan is in. */
  index: number;
  /** In an object, the member the scan is in. */
  key: string;
  /** In an object, the next string is a key. */
  expectKey: boolean;
}

const place = (frame: Frame): string | number => (frame.keys === undefined ? frame.index : frame.key);

/** Where the string opened at `open` ends: the next quote not escaped by an odd run of backslashes. */
export function closingQuote(text: string, open: number): number {
  let at = text.indexOf('"', open + 1);
  for (; at !== -1; at = text.indexOf('"', at + 1)) {
    let before = at - 1;
    while (text.charCodeAt(before) === BACKSLASH) before--;
    if ((at - before) % 2 === 1) return at;
  }
  return text.length;
}

/** The key a string token spells: only a key with escapes needs the parser to read it. */
export function keyOf(text: string, start: number, end: number): string {
  const raw = text.slice(start, end);
  return raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
}

/**
 * Finds the first key written twice in one object of well-formed JSON text, as a path to the
 * second one (`["rules", 0, "effect"]`). JSON.parse keeps the last of them without a word, so a
 * rule saying `"effect":"deny"` then `"effect":"permit"` would load as a permit. One pass over
 * the tokens, one set of keys per open object, no recursion; keys are compared as the parser
 * reads them, so `"a"` and `"\u0061"` are the same key. Run after the text parsed and its depth
 * was checked.
 */
export function findDuplicateKey(text: string): (string | number)[] | undefined {
  const stack: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const top = stack.at(-1);
    if (c === QUOTE) {
      const start = i;
      i = closingQuote(text, i);
      if (top?.keys === undefined || !top.expectKey) continue;
      top.expectKey = false;
      top.key = keyOf(text, start, i + 1);
      if (top.keys.has(top.key)) return stack.map(place);
      top.keys.add(top.key);
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      const object = c === OPEN_OBJECT;
      stack.push({ keys: object ? new Set() : undefined, index: 0, key: '', expectKey: object });
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      stack.pop();
    } else if (c === COMMA && top !== undefined) {
      if (top.keys === undefined) top.index++;
      else top.expectKey = true;
    }
  }
  return undefined;
}
