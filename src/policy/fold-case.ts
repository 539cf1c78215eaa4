/**
 * A name with case differences taken out, for telling names apart only by case. Upper case
 * first: lower-casing alone leaves letters whose upper case is a plain one, so `ſhare` (long
 * s), `ıssue` (dotless i) or `ﬁle` (a ligature) would pass for other actions than `share`,
 * `issue` or `file`, which a backend upper-casing its input would run.
 */
export function foldCase(name: string): string {
  return name.toUpperCase().toLowerCase();
}
