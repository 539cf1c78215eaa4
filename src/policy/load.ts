import { isUtf8 } from 'node:buffer';
import { lstat, readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ZodType } from 'zod';
import { pacer } from '../pace.js';
import { parseSourcePaced } from '../json-source-paced.js';
import { defaultSubjectType } from '../token/claims.js';
import type { PolicyFile } from './compile.js';
import { compilePoliciesPaced } from './compile.js';
import type { CompiledPolicySet } from './compiled.js';
import { foldCase } from './fold-case.js';
import { entityFileSchema, indexEntities, noEntities, type EntityFile, type EntityIndex } from './entities.js';
import type { NamedType } from './entity-names.js';
import { maxIssuesPerFile, moreIssuesIn, PolicyLoadError, pushFileIssues, type PolicyIssue } from './errors.js';
import { jsonPath } from './json-path.js';
import { policySchema, ruleSchema } from './schema.js';
import { checkSchema } from './schema-issues.js';
import { isSourceName, setFolders } from './source-names.js';
import { decodeSource } from './source-text.js';
import { SourceReads } from './source-reads.js';
import { visibleSubfolders } from './subfolders.js';

/** The `*.json` entries of a folder a load reads: `names` to read, and the ones refused by their name alone. */
export interface SourceListing {
  readonly names: readonly string[];
  /** Names the load cannot read as written, each with why; a problem of that file, not of the folder. */
  readonly misnamed: readonly { readonly name: string; readonly message: string }[];
}

/**
 * Names of the `*.json` entries directly in `dir`, sorted so loads are deterministic. Hidden
 * names are not policies: editors keep lock files (`.#invoices.json`) and swap files there. A
 * name ending in `.json` in another case (`.JSON`), or one that is not UTF-8, is `misnamed`.
 * Every other entry is kept whatever it is, so a directory or FIFO by such a name is refused by
 * its read rather than skipped: a Docker bind mount of a missing host file leaves a directory
 * of that name, and skipping it would load the other files as if it had never been there.
 */
export async function jsonFilesIn(dir: string): Promise<SourceListing> {
  const names: string[] = [];
  const misnamed: { name: string; message: string }[] = [];
  for (const raw of await readdir(dir, { encoding: 'buffer' })) {
    const name = raw.toString('utf8');
    if (!isSourceName(name)) continue;
    // Skipped, `invoices.JSON` would drop its rules out of the set without a word: a file of
    // deny rules saved so would leave its permits standing alone.
    if (!name.endsWith('.json')) misnamed.push({ name, message: `the file name ends in ${JSON.stringify(name.slice(-5))}: rename it to end in ".json" to load it, or to another ending to leave it out` });
    // Read under its name decoded, with U+FFFD for the bytes that are not UTF-8, the file would
    // not be found (ENOENT), which names neither the file nor the cause.
    else if (!isUtf8(raw)) misnamed.push({ name, message: 'the file name is not UTF-8: rename the file' });
    else names.push(name);
  }
  const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return { names: names.sort(), misnamed: misnamed.sort(byName) };
}

/** The issues of the names `listing` refuses, each at its file (`folder/name`, or the name alone for the policy directory). */
export function misnamedIssues(listing: SourceListing, folder?: string): PolicyIssue[] {
  return listing.misnamed.map(({ name, message }) => ({ file: folder === undefined ? name : join(folder, name), path: '$', message }));
}

/** Every name `listing` holds, refused ones included: none of them is a folder to refuse apart. */
export function listedNames(listing: SourceListing): string[] {
  return [...listing.names, ...listing.misnamed.map(({ name }) => name)];
}

/** Whether anything, even a link to nothing, has the name `path`; only ENOENT means nothing. */
async function nameExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/**
 * The `*.json` names in a folder a policy set may do without (`data`, `tests`); undefined only
 * when nothing has that name. One that is there but cannot be read as a folder (a file, a link
 * to nothing, no permission) throws with the reason: taking it for "none" would serve a set
 * without its entity data, or pass a set whose tests never ran as tested.
 */
export async function jsonFilesInOptionalDir(dir: string): Promise<SourceListing | undefined> {
  try {
    return await jsonFilesIn(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    // A link to nothing reads as ENOENT too, though the name is there.
    if (await nameExists(dir)) throw new Error('a link to nothing');
    return undefined;
  }
}

/** Finds the rule an issue sits in, from the raw file, when the problem is not the id itself. */
export type RuleLocator = (raw: unknown, path: readonly PropertyKey[]) => string | undefined;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/**
 * The id of `rules[i]` for an issue under it, as long as that id is one the schema takes: any
 * other is printed with every issue of its rule, and one holding a line break or a terminal
 * escape would print as lines of its own. The path alone then locates the issue.
 */
export const policyRuleAt: RuleLocator = (raw, path) => {
  if (path[0] !== 'rules' || typeof path[1] !== 'number' || !isRecord(raw) || !Array.isArray(raw['rules'])) return undefined;
  const rule: unknown = raw['rules'][path[1]];
  if (!isRecord(rule)) return undefined;
  const id = ruleSchema.shape.id.safeParse(rule['id']);
  return id.success ? id.data : undefined;
};

/**
 * Reads one policy, entity or test file as part of the load counted by `reads` and parses it
 * (UTF-8 only, see `decodeSource`), in pieces for a large file: its text and value. Pushes a located issue and returns
 * undefined when the file is unusable, or more than `reads` lets it hold.
 */
export async function readSource(path: string, label: string, issues: PolicyIssue[], reads: SourceReads): Promise<{ readonly text: string; readonly value: unknown } | undefined> {
  let bytes: Buffer;
  try {
    bytes = await reads.read(path);
  } catch (error) {
    issues.push({ file: label, path: '$', message: `cannot read: ${(error as Error).message}` });
    return undefined;
  }
  const decoded = decodeSource(bytes);
  if (!('text' in decoded)) {
    issues.push({ file: label, path: '$', message: decoded.message });
    return undefined;
  }
  const source = await parseSourcePaced(decoded.text, pacer());
  if (!('value' in source)) {
    issues.push({ file: label, path: source.path, message: source.message });
    return undefined;
  }
  return { text: decoded.text, value: source.value };
}

/**
 * Checks a parsed file against its schema, pushing an issue per problem, up to
 * `maxIssuesPerFile` and then one saying there are more; undefined when it fails.
 */
export async function validateSource<T>(raw: unknown, label: string, schema: ZodType<T>, issues: PolicyIssue[], ruleAt?: RuleLocator): Promise<T | undefined> {
  const checked = await checkSchema(raw, schema, maxIssuesPerFile);
  if (checked.ok) return checked.data;
  pushFileIssues(issues, label, checked.issues.slice(0, maxIssuesPerFile + 1).map((issue) => {
    const rule = ruleAt?.(raw, issue.path);
    return { file: label, path: jsonPath(issue.path), message: issue.message, ...(rule !== undefined && { rule }) };
  }));
  return undefined;
}

/** Where an action name was first met, among the rules of one resource type. */
interface ActionPlace {
  readonly name: string;
  readonly file: string;
  readonly rule: number;
  readonly index: number;
}

/**
 * Action names of one resource type that differ only in case or form (`approve`, `Approve`,
 * `ａｐｐｒｏｖｅ`: equal by `foldCase`). The engine matches a request's action by that folded
 * name too (`action_case_mismatch`) and keeps one spelling per folded name, so a rule naming
 * another would not apply as its author meant: a deny on `Approve` beside a permit on `approve`
 * never fired. Each spelling other than the first met is an issue at its own path, naming the
 * first's file and path, across every policy of the type; `maxIssuesPerFile` a file at most.
 * The event loop turns every few milliseconds: a million names take half a second.
 */
export async function foldedActionIssues(files: readonly PolicyFile[]): Promise<PolicyIssue[]> {
  const issues: PolicyIssue[] = [];
  const byResource = new Map<string, Map<string, ActionPlace>>();
  const pace = pacer();
  for (const { file, policy } of files) {
    const firsts = byResource.get(policy.resource) ?? new Map<string, ActionPlace>();
    byResource.set(policy.resource, firsts);
    let found = 0;
    for (const [rule, { id, actions }] of policy.rules.entries()) {
      await pace();
      for (const [index, name] of actions.entries()) {
        const form = foldCase(name);
        const first = firsts.get(form);
        if (first === undefined) firsts.set(form, { name, file, rule, index });
        else if (first.name !== name && found++ < maxIssuesPerFile) {
          const firstPath = `${first.file} $.rules[${first.rule}].actions[${first.index}]`;
          issues.push({ file, path: `$.rules[${rule}].actions[${index}]`, rule: id, message: `"${name}" and "${first.name}" (${firstPath}) differ only in case or form (accents, width, ligatures), and the engine takes them for one action: name it one way` });
        }
      }
    }
    if (found > maxIssuesPerFile) issues.push(moreIssuesIn(file));
  }
  return issues;
}

/**
 * Resource types that differ only in case or form (`invoice`, `Invoice`, `ｉｎｖｏｉｃｅ`: equal
 * by `foldCase`). A request names one of them, and the policies of the other never apply to it:
 * a policy of deny rules for `Invoice` beside the permits for `invoice` never fired. Each
 * spelling other than the first met is an issue at its own `$.resource`, naming the first's file.
 */
function foldedResourceIssues(files: readonly PolicyFile[]): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  const firsts = new Map<string, { readonly name: string; readonly file: string }>();
  for (const { file, policy } of files) {
    const form = foldCase(policy.resource);
    const first = firsts.get(form);
    if (first === undefined) firsts.set(form, { name: policy.resource, file });
    else if (first.name !== policy.resource) {
      issues.push({ file, path: '$.resource', message: `"${policy.resource}" and "${first.name}" (${first.file} $.resource) differ only in case or form (accents, width, ligatures): a request names one, and the policies of the other never apply to it; name the resource type one way` });
    }
  }
  return issues;
}

/**
 * Reads, as part of the load counted by `reads`, and validates one JSON file against a schema.
 * Pushes located issues and returns undefined when the file is unusable.
 */
export async function readJsonFile<T>(path: string, label: string, schema: ZodType<T>, issues: PolicyIssue[], reads: SourceReads, ruleAt?: RuleLocator): Promise<T | undefined> {
  const source = await readSource(path, label, issues, reads);
  return source === undefined ? undefined : await validateSource(source.value, label, schema, issues, ruleAt);
}


/**
 * Loads the entity data files in `dir` (`POLICY_DIR/data`), pushing located issues. Only a
 * `data` that does not exist means no entity data: one that cannot be read as a folder would
 * otherwise drop every stored property (a stored owner among them) without a word.
 * A folder in it is refused by name, as its files are never read.
 */
async function loadEntityDir(dir: string, issues: PolicyIssue[], reads: SourceReads, types: readonly NamedType[]): Promise<EntityIndex> {
  let listing: SourceListing | undefined;
  let folders: string[];
  try {
    listing = await jsonFilesInOptionalDir(dir);
    folders = listing === undefined ? [] : await visibleSubfolders(dir, listedNames(listing));
  } catch (error) {
    issues.push({ file: 'data', path: '$', message: `cannot read entity data directory: ${(error as Error).message}` });
    return noEntities;
  }
  if (listing === undefined) return noEntities;
  issues.push(...misnamedIssues(listing, 'data'));
  // Its files would be left out: the stored owner of a record among them, which the caller's would replace.
  for (const folder of folders) issues.push({ file: join('data', folder), path: '$', message: 'a folder in data/ is not read, so its entity data would be left out: move its files into data/ itself' });
  const files: { file: string; data: EntityFile }[] = [];
  for (const name of listing.names) {
    const label = join('data', name);
    const source = await readSource(join(dir, name), label, issues, reads);
    const data = source === undefined ? undefined : await validateSource(source.value, label, entityFileSchema, issues);
    if (data !== undefined) files.push({ file: label, data });
  }
  return indexEntities(files, issues, types);
}

/**
 * The types requests name, for entity types to be held to (see `EntityNames.holdType`): each
 * policy's resource type, the subject type of tokens, and `subjectTypes`, those issuers' entries set.
 */
function requestedTypes(files: readonly PolicyFile[], subjectTypes: readonly NamedType[]): NamedType[] {
  return [
    ...files.map(({ file, policy }) => ({ name: policy.resource, where: `the resource type of ${file}` })),
    { name: defaultSubjectType, where: 'the subject type of tokens, unless their issuer\'s entry sets another' },
    ...subjectTypes,
  ];
}

/**
 * The refusal of a policy directory `dir` that could not be listed for `error`. A policy file given
 * where its directory belongs (`pdp validate policies/invoices.json`, `POLICY_DIR` naming a file)
 * is said to be one, with the directory to give instead, rather than as the listing's `ENOTDIR`.
 */
export async function unreadableDirectory(dir: string, error: unknown): Promise<PolicyLoadError> {
  const givenFile = (error as NodeJS.ErrnoException).code === 'ENOTDIR' && (await stat(dir).then((found) => found.isFile(), () => false));
  const reason = givenFile ? `it is a file: give the directory holding the policies (${dirname(dir)})` : (error as Error).message;
  return new PolicyLoadError([{ file: dir, path: '$', message: `cannot read policy directory: ${reason}` }]);
}

/**
 * Loads every policy file directly in `dir`, and the entity data in `dir/data`, and compiles
 * the set. Throws PolicyLoadError listing every problem (file, JSON path, rule, reason); any
 * other folder (hidden ones aside) is one, as its policies are never read. `reads` counts the
 * bytes of the load, which its test files may go on with (see `loadFixtures`). An entity type may
 * not differ only in case from a type requests name: a resource type, `user`, or one of
 * `subjectTypes`, those the server's issuers set (known to the server alone).
 */
export async function loadPolicyDir(dir: string, reads = new SourceReads(), subjectTypes: readonly NamedType[] = []): Promise<CompiledPolicySet> {
  let listing: SourceListing;
  let folders: string[];
  try {
    listing = await jsonFilesIn(dir);
    folders = (await visibleSubfolders(dir, listedNames(listing))).filter((folder) => !setFolders.has(folder));
  } catch (error) {
    throw await unreadableDirectory(dir, error);
  }
  const names = listing.names;
  // Its policies would be left out of the set without a word: deny rules among them.
  const issues: PolicyIssue[] = [
    ...misnamedIssues(listing),
    ...folders.map((folder) => ({ file: folder, path: '$', message: 'a folder in the policy directory is not read, so its policies would be left out: move its files into the directory itself (only data/ and tests/ are read as folders)' })),
  ];
  if (names.length === 0) {
    throw new PolicyLoadError([{ file: dir, path: '$', message: 'no policy files (*.json) found' }, ...issues]);
  }
  const files: PolicyFile[] = [];
  for (const name of names) {
    const policy = await readJsonFile(join(dir, name), name, policySchema, issues, reads, policyRuleAt);
    if (policy !== undefined) files.push({ file: name, policy });
  }
  issues.push(...(await foldedActionIssues(files)));
  issues.push(...foldedResourceIssues(files));
  const entities = await loadEntityDir(join(dir, 'data'), issues, reads, requestedTypes(files, subjectTypes));
  // The files that passed the schema are compiled even when others failed, so one run
  // reports CEL and duplicate-id problems alongside the schema ones.
  try {
    const set = await compilePoliciesPaced(files, entities.versionInput(), entities);
    if (issues.length === 0) return set;
  } catch (error) {
    if (!(error instanceof PolicyLoadError)) throw error;
    issues.push(...error.issues);
  }
  throw new PolicyLoadError(issues);
}
