const beyondAscii = /[^\x20-\x7e]/;

/** What folding takes out once the case mappings are done: accents, whitespace, controls and invisible characters. */
const foldedAway = /[\p{M}\s\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}]/gu;

/**
 * Code units folded at a time. Folding acts on each code point alone (see `foldSlice`), so a name
 * folds as the concatenation of its slices do, and a lookup stops at the first slices that fold
 * longer than any name held: NFKD turns one code point into up to 18 (U+FDFA), and 1,024 of
 * those took ~0.5 ms to fold whole, for every unknown action or entity name of a request.
 */
const sliceLength = 32;

const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff;
const isLowSurrogate = (code: number): boolean => code >= 0xdc00 && code <= 0xdfff;

/** Printable ASCII, the usual name, folds by lower case and dropping spaces, at a fraction of the cost. */
function foldAscii(name: string): string {
  return name.toLowerCase().replaceAll(' ', '');
}

/**
 * NFKD splits ligatures, width forms and accented letters (`ﬁ` → `fi`, `ａ` → `a`, `İ` → `I`
 * and a dot); lower, upper, then lower case again catches letters that one mapping alone leaves
 * apart (`ſ` long s, `ı` dotless i, `ẞ` capital sharp s, whose lower case `ß` upper-cases to
 * `SS`); and the accents go last, once the case mappings have turned the marks that have a case
 * into letters (the Greek iota subscript of `ᾳ` upper-cases to `Ι`: `ᾳ` folds as `αι` does).
 * Final sigma `ς`, the one lower case that depends on the letters around it, folds as `σ`: every
 * code point then folds on its own.
 */
function foldSlice(slice: string): string {
  return slice.normalize('NFKD').toLowerCase().toUpperCase().toLowerCase().normalize('NFKD').replaceAll('ς', 'σ').replace(foldedAway, '');
}

/**
 * `name` folded (see foldCase), or undefined as soon as it folds longer than `maxLength`: the
 * lookup of a name among names that fold no longer costs in proportion to those, not to what
 * folding the name whole would take.
 */
export function foldCaseWithin(name: string, maxLength: number): string | undefined {
  if (!beyondAscii.test(name)) {
    const folded = foldAscii(name);
    return folded.length <= maxLength ? folded : undefined;
  }
  let folded = '';
  for (let at = 0; at < name.length; ) {
    let end = Math.min(at + sliceLength, name.length);
    // A surrogate pair is one code point: a slice never ends between its halves.
    if (isHighSurrogate(name.charCodeAt(end - 1)) && isLowSurrogate(name.charCodeAt(end))) end += 1;
    folded += foldSlice(name.slice(at, end));
    if (folded.length > maxLength) return undefined;
    at = end;
  }
  return folded;
}

/**
 * A name with its differences of case, accents, compatibility forms and invisible characters
 * taken out, for telling apart names that differ only by those. Folding too much is safe where it
 * is used: a request whose action matches no rule exactly but folds to one the rules name is
 * denied, never let through to the `"*"` rules, and so is one whose subject or resource folds to
 * an entity that entity data holds (entities.ts). Folding too little is not: a backend that
 * upper- or lower-cases or normalises its input would run an action the rules name. Every code
 * point folds as its upper case, lower case, NFC and NFKC forms do (see `foldSlice`).
 * Whitespace, control and invisible characters go too (`approve ` or `approve` with a zero-width
 * space): no name the rules hold has any (schema.ts), and a backend that trims its input, or a
 * reader, would take the rest.
 */
export function foldCase(name: string): string {
  return foldCaseWithin(name, Infinity) as string;
}

/** Values looked up by a name that folds (foldCase) as the name they were held under. */
export class FoldedNames<V> {
  readonly #byFold = new Map<string, V>();
  #longest = 0;

  /** The value held under a name that folds as `name` does; `make`'s, held from now on, when there is none. */
  holding(name: string, make: () => V): V {
    const folded = foldCase(name);
    const held = this.#byFold.get(folded);
    if (held !== undefined) return held;
    const value = make();
    this.#byFold.set(folded, value);
    this.#longest = Math.max(this.#longest, folded.length);
    return value;
  }

  /** The value held under a name that folds as `name` does. */
  get(name: string): V | undefined {
    const folded = foldCaseWithin(name, this.#longest);
    return folded === undefined ? undefined : this.#byFold.get(folded);
  }
}
