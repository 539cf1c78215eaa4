const beyondAscii = /[^\x20-\x7e]/;

/**
 * A name with its differences of case, accents and compatibility forms taken out, for telling
 * apart names that differ only by those. Folding too much is safe where it is used: a request
 * whose action matches no rule exactly but folds to one the rules name is denied, never let
 * through to the `"*"` rules. Folding too little is not: a backend that upper- or lower-cases or
 * normalises its input would run an action the rules name. So NFKD splits ligatures, width
 * forms and accented letters (`ﬁ` → `fi`, `ａ` → `a`, `İ` → `I` and a dot) and the accents go;
 * lower, upper, then lower case again catches letters that one mapping alone leaves apart
 * (`ſ` long s, `ı` dotless i, `ẞ` capital sharp s, whose lower case `ß` upper-cases to `SS`).
 */
export function foldCase(name: string): string {
  // Printable ASCII, the usual action name, folds by lower case alone, at a fraction of the cost.
  return !beyondAscii.test(name) ? name.toLowerCase() : name.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase().toUpperCase().toLowerCase();
}
