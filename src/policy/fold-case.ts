const beyondAscii = /[^\x20-\x7e]/;

/**
 * A name with its differences of case, accents, compatibility forms and invisible characters
 * taken out, for telling apart names that differ only by those. Folding too much is safe where it
 * is used: a request whose action matches no rule exactly but folds to one the rules name is
 * denied, never let through to the `"*"` rules, and so is one whose subject or resource folds to
 * an entity that entity data holds (entities.ts). Folding too little is not: a backend that
 * upper- or lower-cases or normalises its input would run an action the rules name. So NFKD splits ligatures, width
 * forms and accented letters (`ﬁ` → `fi`, `ａ` → `a`, `İ` → `I` and a dot); lower, upper, then
 * lower case again catches letters that one mapping alone leaves apart (`ſ` long s, `ı` dotless
 * i, `ẞ` capital sharp s, whose lower case `ß` upper-cases to `SS`); and the accents go last,
 * once the case mappings have turned the marks that have a case into letters (the Greek iota
 * subscript of `ᾳ` upper-cases to `Ι`: `ᾳ` folds as `αι` does). Every code point then folds as
 * its upper case, lower case, NFC and NFKC forms do. Whitespace, control and invisible
 * characters go too (`approve ` or `approve` with a zero-width space): no name the rules hold has
 * any (schema.ts), and a backend that trims its input, or a reader, would take the rest.
 */
export function foldCase(name: string): string {
  // Printable ASCII, the usual name, folds by lower case and dropping spaces, at a fraction of the cost.
  if (!beyondAscii.test(name)) return name.toLowerCase().replaceAll(' ', '');
  return name.normalize('NFKD').toLowerCase().toUpperCase().toLowerCase().normalize('NFKD').replace(/[\p{M}\s\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}]/gu, '');
}
