import { lstatSync, readdirSync, readlinkSync, realpathSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { policySourceDirs } from './fingerprint.js';
import { isSourceName, policyDirRules, setFolderRules, type FolderRules } from './source-names.js';

/** A running directory watch. */
export interface PolicyWatcher {
  close(): void;
}

/** Quiet time after the last change before `onChange` runs, ms. */
const debounceMs = 200;
/** Longest a stream of changes may postpone `onChange`, ms. */
const maxWaitMs = 2_000;

export interface PolicyWatchOptions {
  /** Whether a load runs the tests, and so reads `tests/`: without, no change there reloads. */
  readonly withTests: boolean;
  /** A folder could not be watched; watching goes on with the others. */
  readonly onError?: (error: Error, path: string) => void;
}

function realDirectory(path: string): string | undefined {
  try {
    const real = realpathSync(path);
    return statSync(real).isDirectory() ? real : undefined;
  } catch {
    return undefined;
  }
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * How the load judges the entries of a folder it reads (see `FolderRules`), with `folders`, the
 * other visible folders it held at the last look, which it refuses.
 */
interface ReadFolder extends FolderRules {
  readonly folders: ReadonlySet<string>;
}

/** How the load judges the entries of the folder `dir` it reads, by `rules` and what `dir` holds now. */
function readFolder(dir: string, rules: FolderRules): ReadFolder {
  const refused = (name: string) => !name.startsWith('.') && !rules.sets.has(name) && !rules.skipped.has(name) && realDirectory(join(dir, name)) !== undefined;
  let folders: Set<string>;
  try {
    folders = new Set(readdirSync(dir).filter(refused));
  } catch {
    folders = new Set();
  }
  return { ...rules, folders };
}

/**
 * Whether the load reads or refuses the entry `name` of the folder `dir` it reads (see
 * `ReadFolder`): a name it reads by, a folder it reads, or another visible folder, there now or
 * before (one made fails the load, one gone no longer does). Never a hidden name (an editor's
 * swap file or lock link, a ConfigMap's revision), another file (vim's `4913` probe, a `~`
 * backup, a log) or a skipped entry: a change to one reloaded every policy into the set already
 * serving, on every save of a swap file while a policy was being edited, and on every save of
 * a test file the load did not read.
 */
function isLoadedEntry(dir: string, name: string, read: ReadFolder): boolean {
  if (name.startsWith('.') || read.skipped.has(name)) return false;
  return isSourceName(name) || read.sets.has(name) || read.folders.has(name) || realDirectory(join(dir, name)) !== undefined;
}

/**
 * The symlinks directly in the folder `dir` that the load reads or refuses (a ConfigMap's keys,
 * linked into its current revision); not an editor's lock link, pointing nowhere.
 */
function symlinksIn(dir: string, read: ReadFolder): string[] {
  try {
    return readdirSync(dir).filter((name) => isLoadedEntry(dir, name, read)).map((name) => join(dir, name)).filter(isSymlink);
  } catch {
    return [];
  }
}

/**
 * Every symlink met in resolving `path`, those in a link's target included, each as the real
 * folder holding it and its name; and the path it resolves to, there or not (undefined for a
 * loop). Pointed elsewhere (`/srv/current/policies`, `current` switched to another release),
 * such a link changes what the path reaches while every folder it reached stays as it was, the
 * old release kept: only the folder holding the link sees the switch.
 */
function resolvePath(path: string): { readonly links: [string, string][]; readonly target: string | undefined } {
  const links: [string, string][] = [];
  const parts = (of: string) => of.split(sep).filter((part) => part !== '');
  const pending = parts(resolve(path));
  let real: string = sep;
  // As far as the system follows a chain of links (ELOOP after 40), a loop included.
  for (let hops = 0; pending.length > 0 && hops <= 40;) {
    const name = pending.shift() as string;
    const next = join(real, name);
    let target: string;
    try {
      target = readlinkSync(next);
    } catch {
      // Not a link (or not there): a real folder, or the end of what can be resolved.
      real = next;
      continue;
    }
    hops += 1;
    links.push([real, name]);
    pending.unshift(...parts(resolve(real, target)));
    real = sep;
  }
  return { links, target: pending.length === 0 ? real : undefined };
}

/**
 * What matters in a watched folder: the entry names met on the way to what is read (`names`),
 * and, in a folder the load reads (the policy directory, `data/`, `tests/` when the tests run),
 * every entry it reads or refuses (`read`). A folder holding both a symlink and its target
 * (`current -> r1`) is watched for those two names: watched for any, a log written beside them
 * reloaded the policies, and its reload line reloaded them again.
 */
interface WatchedNames {
  readonly names: Set<string>;
  read?: ReadFolder;
}

/** Real folders to watch, each with the entry names that matter in it. */
type WatchedFolders = Map<string, WatchedNames>;

function watchedNames(folders: WatchedFolders, folder: string): WatchedNames {
  let watched = folders.get(folder);
  if (watched === undefined) {
    watched = { names: new Set() };
    folders.set(folder, watched);
  }
  return watched;
}

/** Has `folder` watched for `name` too. */
function watchName(folders: WatchedFolders, folder: string, name: string): void {
  watchedNames(folders, folder).names.add(name);
}

/** Whether a change to the entry `name` (null: unknown) of `folder` can change the policy set. */
function matters(folder: string, watched: WatchedNames, name: string | null): boolean {
  if (name === null) return watched.read !== undefined;
  return watched.names.has(name) || (watched.read !== undefined && isLoadedEntry(folder, name, watched.read));
}

/**
 * Has the folder holding `path` watched for its name, or, when that folder is not there either,
 * the nearest folder up the path that is, for the next name down: the path made again brings
 * the watch back, one folder per change, until it reaches what is read.
 */
function watchNearest(folders: WatchedFolders, path: string): void {
  let parent = realDirectory(dirname(path));
  while (parent === undefined && dirname(path) !== path) {
    path = dirname(path);
    parent = realDirectory(dirname(path));
  }
  if (parent !== undefined) watchName(folders, parent, basename(path));
}

/**
 * Has every folder holding a symlink on the way to `path` watched for the link's name, and the
 * folder `path` resolves into for the name it ends in (see `watchNearest`). A link whose target
 * was deleted, or whose target's folder was, is seen to reach something again only there: the
 * folders it reached before are gone, or no longer watched, as they hold nothing that is read.
 */
function watchWayTo(folders: WatchedFolders, path: string): void {
  const { links, target } = resolvePath(path);
  for (const [holder, name] of links) watchName(folders, holder, name);
  if (target !== undefined) watchNearest(folders, target);
}

/** Every real folder whose changes can change the policy set, each with what matters in it. */
function foldersToWatch(dir: string, withTests: boolean): WatchedFolders {
  const folders: WatchedFolders = new Map();
  for (const path of policySourceDirs(dir, withTests)) {
    const real = realDirectory(path);
    if (real === undefined) continue;
    const read = readFolder(real, path === dir ? policyDirRules(withTests) : setFolderRules);
    watchedNames(folders, real).read = read;
    for (const link of symlinksIn(path, read)) watchWayTo(folders, link);
  }
  // The policy directory can be replaced at its path (a symlink pointed at another release, a
  // folder renamed over it, deleted and created again), which only its parent folder sees.
  // Resolved first, so that `.` or `policies/.` is named in its parent by its own name. When
  // the parent is gone too (the release folder holding it deleted), watching only the parent,
  // no change was ever seen again.
  watchNearest(folders, resolve(dir));
  for (const source of policySourceDirs(dir, withTests)) watchWayTo(folders, source);
  return folders;
}

/**
 * Calls `onChange` (debounced) when an entry the load reads or refuses changes in a policy
 * directory or its `data/` folder, and its `tests/` folder when the load runs the tests
 * (`options.withTests`; see `isLoadedEntry`). Folders are watched, never single files, so
 * editors that save by writing a new file and renaming it over the old one are seen. After every change the folders are resolved and watched again: when a symlink
 * now points elsewhere (a Kubernetes ConfigMap swapping its `..data` link, a `current -> release`
 * link) or a folder was replaced at its path, the watch moves to the new folder, folders created
 * later are picked up, and every folder holding a symlink met on the way to a folder or file read
 * is watched too, for that link's name, as is the folder a linked file is in, for its name.
 */
export function watchPolicyDir(dir: string, onChange: () => void, options: PolicyWatchOptions): PolicyWatcher {
  const watchers = new Set<FSWatcher>();
  let timer: NodeJS.Timeout | undefined;
  let firstChangeAt: number | undefined;
  let closed = false;

  const fire = () => {
    timer = undefined;
    firstChangeAt = undefined;
    if (closed) return;
    refresh();
    onChange();
  };

  const changed = () => {
    if (closed) return;
    // Elapsed time: on a wall clock stepped back, a stream of changes would hold the reload off
    // for as long as the step.
    const now = performance.now();
    firstChangeAt ??= now;
    if (timer !== undefined) clearTimeout(timer);
    const wait = Math.max(0, Math.min(debounceMs, firstChangeAt + maxWaitMs - now));
    timer = setTimeout(fire, wait);
    timer.unref();
  };

  const stopWatching = (watcher: FSWatcher) => {
    watcher.close();
    watchers.delete(watcher);
  };

  const startWatching = (folder: string, watched: WatchedNames) => {
    try {
      const watcher = watch(folder, { persistent: false }, (_event, name) => {
        if (matters(folder, watched, name)) changed();
      });
      watcher.on('error', (error) => {
        // The folder went away (a swapped-out ConfigMap revision): re-resolve on the next pass.
        stopWatching(watcher);
        options.onError?.(error, folder);
        changed();
      });
      watchers.add(watcher);
    } catch (error) {
      options.onError?.(error as Error, folder);
    }
  };

  // Every folder is watched anew, not only those whose path changed: a folder replaced at the
  // same path (renamed over, deleted and created again) is one the old watch never reports on
  // (Linux does not fail it either), and its device and inode do not tell it apart, as ext4
  // gives a folder made right after a deletion the deleted one's inode number.
  const refresh = () => {
    for (const watcher of [...watchers]) stopWatching(watcher);
    for (const [folder, watched] of foldersToWatch(dir, options.withTests)) startWatching(folder, watched);
  };

  refresh();
  return {
    close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      for (const watcher of [...watchers]) stopWatching(watcher);
    },
  };
}
