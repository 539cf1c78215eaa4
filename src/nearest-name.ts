/**
 * Edits (insert, delete, replace, swap two neighbours) from `a` to `b`, or `max + 1` once it is
 * sure to be more than `max`: names whose lengths differ by more are not compared at all, so a
 * name of megabytes costs nothing.
 */
function distance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, (before[j - 2] ?? 0) + 1);
      current.push(best);
    }
    if (Math.min(...current) > max) return max + 1;
    before = previous;
    previous = current;
  }
  return previous[b.length] ?? max + 1;
}

/** How far a name may be from a known one to be taken for it: one edit from a short one (HOME is two from HOST). */
const reach = (known: string) => (known.length <= 5 ? 1 : 2);

/**
 * The name of `known` that `name` most likely misspells (a setting, a field, a function): within
 * its reach, case aside, the nearest first and the first of `known` on a tie; undefined when none
 * is that near.
 */
export function nearestName(name: string, known: Iterable<string>): string | undefined {
  const upper = name.toUpperCase();
  let found: { name: string; edits: number } | undefined;
  for (const candidate of known) {
    const edits = distance(upper, candidate.toUpperCase(), reach(candidate));
    if (edits <= reach(candidate) && (found === undefined || edits < found.edits)) found = { name: candidate, edits };
  }
  return found?.name;
}
