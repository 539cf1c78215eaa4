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
