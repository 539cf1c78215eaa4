/** Edits (insert, delete, replace a character, or swap two neighbours) that make `a` into `b`, case aside. */
function editDistance(a: string, b: string): number {
  const from = [...a.toLowerCase()];
  const to = [...b.toLowerCase()];
  const rows = from.map(() => new Array<number>(to.length + 1).fill(0));
  const at = (i: number, j: number): number => (i < 0 ? j + 1 : j < 0 ? i + 1 : (rows[i]?.[j] ?? 0));
  for (let i = 0; i < from.length; i++) {
    for (let j = 0; j < to.length; j++) {
      const replace = at(i - 1, j - 1) + (from[i] === to[j] ? 0 : 1);
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, replace);
      if (i > 0 && j > 0 && from[i] === to[j - 1] && from[i - 1] === to[j]) best = Math.min(best, at(i - 2, j - 2) + 1);
      (rows[i] as number[])[j] = best;
    }
  }
  return at(from.length - 1, to.length - 1);
}

/**
 * The name of `known` that `name` most likely misspells: within two edits (one for a name of four
 * characters or fewer, where two edits make most names of that length into each other), case
 * aside, the nearest first; undefined when none is that near.
 */
export function nearestName(name: string, known: Iterable<string>): string | undefined {
  let found: { readonly name: string; readonly edits: number } | undefined;
  for (const candidate of known) {
    const allowed = candidate.length <= 4 ? 1 : 2;
    // Lengths further apart than that need more edits: a key of megabytes in a file was otherwise
    // compared character by character, in a table of its length.
    if (Math.abs(name.length - candidate.length) > allowed) continue;
    const edits = editDistance(name, candidate);
    if (edits <= allowed && (found === undefined || edits < found.edits)) found = { name: candidate, edits };
  }
  return found?.name;
}
