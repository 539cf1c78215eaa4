/**
 * Whether the load reads the folder entry `name` as a policy, entity or test file, or refuses it
 * by its name (see `jsonFilesIn`): a visible name ending in `.json` in any case, but the editor
 * schemas (`*.schema.json`). Hidden names are editors' lock and swap files.
 */
export function isSourceName(name: string): boolean {
  return !name.startsWith('.') && name.toLowerCase().endsWith('.json') && !name.endsWith('.schema.json');
}

/** The folders of a policy directory that are part of its set: entity data and test files. */
export const setFolders: ReadonlySet<string> = new Set(['data', 'tests']);

const entityFolders: ReadonlySet<string> = new Set(['data']);

/**
 * The folders of a policy directory that a load reads: `data/`, and `tests/` only for one that
 * runs the tests (`withTests`). Without, `tests/` is neither read nor refused.
 */
export function readFolders(withTests: boolean): ReadonlySet<string> {
  return withTests ? setFolders : entityFolders;
}

/**
 * How a load judges the entries of a folder it reads, beside the files it reads by name (see
 * `isSourceName`): `sets` it reads whatever they are (the policy directory's `data/`, and
 * `tests/` when the tests run), so what they are counts even when not a folder; `skipped` it
 * neither reads nor refuses (the policy directory's `tests/` when they do not); any other
 * visible folder it refuses.
 */
export interface FolderRules {
  readonly sets: ReadonlySet<string>;
  readonly skipped: ReadonlySet<string>;
}

/** The rules of `data/` and `tests/`: every visible folder in them is refused. */
export const setFolderRules: FolderRules = { sets: new Set(), skipped: new Set() };

/** The rules of the policy directory, for a load that runs the tests or not (`withTests`). */
export function policyDirRules(withTests: boolean): FolderRules {
  const sets = readFolders(withTests);
  return { sets, skipped: new Set([...setFolders].filter((name) => !sets.has(name))) };
}
