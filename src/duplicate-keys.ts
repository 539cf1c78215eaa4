import { isJsonWhitespace, QUOTE } from './json-chars.js';
import { pathOf, scanJson, type JsonScope } from './json-scan.js';

/**
 * Finds the first key written twice in one object of well-formed JSON text, as a path to the
 * second one (`["rules", 0, "effect"]`). JSON.parse keeps the last of them without a word, so a
 * rule saying `"effect":"deny"` then `"effect":"permit"` would load as a permit. One pass over
 * the tokens, one set of keys per open object, no recursion; keys are compared as the parser
 * reads them, so `"a"` and `"\u0061"` are the same key. Run after the text parsed and its depth
 * was checked.
 */
export function findDuplicateKey(text: string): (string | number)[] | undefined {
  // The keys of the object open at each depth, and that object's scope: a new object there starts afresh.
  const owners: JsonScope[] = [];
  const keysAt: Set<string>[] = [];
  let found: (string | number)[] | undefined;
  scanJson(text, {
    key: (scopes) => {
      const depth = scopes.length - 1;
      const scope = scopes[depth] as JsonScope;
      if (owners[depth] !== scope) {
        owners[depth] = scope;
        keysAt[depth] = new Set();
      }
      const keys = keysAt[depth] as Set<string>;
      if (keys.has(scope.key)) found = pathOf(scopes);
      keys.add(scope.key);
      return found !== undefined;
    },
  });
  return found;
}

/** The keys of every object in `value`, an object or array of parsed JSON. */
function keyCount(value: object): number {
  let count = 0;
  if (Array.isArray(value)) {
    for (const item of value as unknown[]) if (typeof item === 'object' && item !== null) count += keyCount(item);
    return count;
  }
  for (const key in value) {
    count++;
    const item = (value as Record<string, unknown>)[key];
    if (typeof item === 'object' && item !== null) count += keyCount(item);
  }
  return count;
}

/**
 * Whether `text`, which parsed as `value`, may write a key twice in one object: false settles it
 * without reading the tokens (~0.5 µs for a request of ~20 keys, where `findDuplicateKey` takes
 * ~5). Outside strings, a colon follows a key: right after its closing quote, or after
 * whitespace. So when no colon follows whitespace, and as many follow a quote as the objects of
 * `value` hold keys (strings may hold `":` too, which only adds to the count), no more keys were
 * written than were kept: none twice.
 */
export function mayRepeatKey(text: string, value: unknown): boolean {
  let written = 0;
  for (let at = text.indexOf(':'); at !== -1; at = text.indexOf(':', at + 1)) {
    const before = text.charCodeAt(at - 1);
    if (before === QUOTE) written++;
    else if (isJsonWhitespace(before)) return true;
  }
  return written !== (typeof value === 'object' && value !== null ? keyCount(value) : 0);
}

/**
 * The path of a key `text`, which parsed as `value`, writes twice in one object, as
 * `findDuplicateKey` finds it; the tokens are read only when `mayRepeatKey` cannot rule it out
 * (a 15 MB data file: ~10 ms instead of ~90).
 */
export function duplicateKeyIn(text: string, value: unknown): (string | number)[] | undefined {
  return mayRepeatKey(text, value) ? findDuplicateKey(text) : undefined;
}
