import { pathOf, scanJson, type JsonScope } from '../json-scan.js';

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
