import { constants } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ZodType } from 'zod';
import { findDepthViolation, findLimitViolation, jsonLimits, type JsonLimits } from '../json-limits.js';
import type { PolicyFile } from './compile.js';
import { compilePolicies } from './compile.js';
import type { CompiledPolicySet } from './compiled.js';
import { findDuplicateKey } from './duplicate-keys.js';
import { entityFileSchema, indexEntities, noEntities, type EntityFile, type EntityIndex } from './entities.js';
import { PolicyLoadError, type PolicyIssue } from './errors.js';
import { jsonPath } from './json-path.js';
import { policySchema } from './schema.js';
import { decodeSource } from './source-text.js';

/**
 * Names of the `*.json` files directly in `dir`, sorted so loads are deterministic. Hidden
 * names are not policies: editors keep lock files (`.#invoices.json`) and swap files there.
 */
export async function jsonFilesIn(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && !e.name.startsWith('.') && e.name.endsWith('.json') && !e.name.endsWith('.schema.json'))
    .map((e) => e.name)
    .sort();
}

/** Finds the rule an issue sits in, from the raw file, when the problem is not the id itself. */
export type RuleLocator = (raw: unknown, path: readonly PropertyKey[]) => string | undefined;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** The id of `rules[i]` for an issue under it, as long as that id is a string. */
export const policyRuleAt: RuleLocator = (raw, path) => {
  if (path[0] !== 'rules' || typeof path[1] !== 'number' || !isRecord(raw) || !Array.isArray(raw['rules'])) return undefined;
  const rule: unknown = raw['rules'][path[1]];
  return isRecord(rule) && typeof rule['id'] === 'string' ? rule['id'] : undefined;
};

/** Bounds on source files: only what keeps every later step safe (no collection or string bound). */
const sourceLimits: JsonLimits = { maxDepth: jsonLimits.maxDepth, maxCollection: Infinity, maxString: Infinity };

/**
 * Parses the text of a policy, entity or test file: nesting beyond 64 levels (which would
 * overflow the stack of every recursive step after it), a key written twice in one object
 * (JSON.parse would keep the last without a word, and `pdp fmt` drop the first) and numbers
 * beyond a double (which JSON.parse reads as infinities and JSON writes back as null) are
 * refused with their path, like malformed JSON. `limits` tightens the bounds for text that
 * stands for a request (`pdp check`).
 */
export function parseSource(text: string, limits: JsonLimits = sourceLimits): { readonly value: unknown } | { readonly path: string; readonly message: string } {
  const tooDeep = findDepthViolation(text, limits.maxDepth);
  if (tooDeep !== undefined) return { path: jsonPath(tooDeep.path), message: tooDeep.message };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { path: '$', message: `not valid JSON: ${(error as Error).message}` };
  }
  const duplicate = findDuplicateKey(text);
  if (duplicate !== undefined) return { path: jsonPath(duplicate), message: 'duplicate key' };
  const overLimit = findLimitViolation(value, limits);
  return overLimit === undefined ? { value } : { path: jsonPath(overLimit.path), message: overLimit.message };
}

/**
 * The bytes of a regular file; anything else is refused before a read can block or run on for
 * ever (a FIFO linked into the folder waits for a writer, a link to /dev/zero never ends).
 * O_NONBLOCK makes opening a FIFO return at once, and the check is on the opened file, so a swap
 * between check and read slips nothing in. A file over `maxBytes` is refused unread.
 */
export async function readRegularFile(path: string, maxBytes = Infinity): Promise<Buffer> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new Error('not a regular file (a directory, FIFO, socket or device)');
    if (stats.size > maxBytes) throw new Error(`larger than ${maxBytes} bytes`);
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/**
 * Reads one policy, entity or test file and parses it (UTF-8 only, see `decodeSource`): its
 * text and value. Pushes a located issue and returns undefined when the file is unusable.
 */
export async function readSource(path: string, label: string, issues: PolicyIssue[]): Promise<{ readonly text: string; readonly value: unknown } | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readRegularFile(path);
  } catch (error) {
    issues.push({ file: label, path: '$', message: `cannot read: ${(error as Error).message}` });
    return undefined;
  }
  const decoded = decodeSource(bytes);
  if (!('text' in decoded)) {
    issues.push({ file: label, path: '$', message: decoded.message });
    return undefined;
  }
  const source = parseSource(decoded.text);
  if (!('value' in source)) {
    issues.push({ file: label, path: source.path, message: source.message });
    return undefined;
  }
  return { text: decoded.text, value: source.value };
}

/** Checks a parsed file against its schema, pushing an issue per problem; undefined when it fails. */
export function validateSource<T>(raw: unknown, label: string, schema: ZodType<T>, issues: PolicyIssue[], ruleAt?: RuleLocator): T | undefined {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) {
    const rule = ruleAt?.(raw, issue.path);
    issues.push({ file: label, path: jsonPath(issue.path), message: issue.message, ...(rule !== undefined && { rule }) });
  }
  return undefined;
}

/**
 * Reads and validates one JSON file against a schema. Pushes located issues and
 * returns undefined when the file is unusable.
 */
export async function readJsonFile<T>(path: string, label: string, schema: ZodType<T>, issues: PolicyIssue[], ruleAt?: RuleLocator): Promise<T | undefined> {
  const source = await readSource(path, label, issues);
  return source === undefined ? undefined : validateSource(source.value, label, schema, issues, ruleAt);
}

/**
 * Loads the entity data files in `dir` (`POLICY_DIR/data`), pushing located issues.
 * A missing directory means no entity data.
 */
async function loadEntityDir(dir: string, issues: PolicyIssue[]): Promise<EntityIndex> {
  let names: string[];
  try {
    names = await jsonFilesIn(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return noEntities;
    issues.push({ file: 'data', path: '$', message: `cannot read entity data directory: ${(error as Error).message}` });
    return noEntities;
  }
  const files: { file: string; data: EntityFile }[] = [];
  for (const name of names) {
    const label = join('data', name);
    const data = await readJsonFile(join(dir, name), label, entityFileSchema, issues);
    if (data !== undefined) files.push({ file: label, data });
  }
  return indexEntities(files, issues);
}

/**
 * Loads every policy file directly in `dir`, and the entity data in `dir/data`, and compiles
 * the set. Throws PolicyLoadError listing every problem (file, JSON path, rule, reason).
 */
export async function loadPolicyDir(dir: string): Promise<CompiledPolicySet> {
  let names: string[];
  try {
    names = await jsonFilesIn(dir);
  } catch (error) {
    throw new PolicyLoadError([{ file: dir, path: '$', message: `cannot read policy directory: ${(error as Error).message}` }]);
  }
  if (names.length === 0) {
    throw new PolicyLoadError([{ file: dir, path: '$', message: 'no policy files (*.json) found' }]);
  }
  const issues: PolicyIssue[] = [];
  const files: PolicyFile[] = [];
  for (const name of names) {
    const policy = await readJsonFile(join(dir, name), name, policySchema, issues, policyRuleAt);
    if (policy !== undefined) files.push({ file: name, policy });
  }
  const entities = await loadEntityDir(join(dir, 'data'), issues);
  // The files that passed the schema are compiled even when others failed, so one run
  // reports CEL and duplicate-id problems alongside the schema ones.
  try {
    const set = compilePolicies(files, entities.versionInput(), entities);
    if (issues.length === 0) return set;
  } catch (error) {
    if (!(error instanceof PolicyLoadError)) throw error;
    issues.push(...error.issues);
  }
  throw new PolicyLoadError(issues);
}
