import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ZodType } from 'zod';
import type { PolicyFile } from './compile.js';
import { compilePolicies } from './compile.js';
import type { CompiledPolicySet } from './compiled.js';
import { PolicyLoadError, type PolicyIssue } from './errors.js';
import { jsonPath } from './json-path.js';
import { policySchema } from './schema.js';

/** Names of the `*.json` files directly in `dir`, sorted so loads are deterministic. */
export async function jsonFilesIn(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && e.name.endsWith('.json') && !e.name.endsWith('.schema.json'))
    .map((e) => e.name)
    .sort();
}

/**
 * Reads and validates one JSON file against a schema. Pushes located issues and
 * returns undefined when the file is unusable.
 */
export async function readJsonFile<T>(path: string, label: string, schema: ZodType<T>, issues: PolicyIssue[]): Promise<T | undefined> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    issues.push({ file: label, path: '$', message: `not valid JSON: ${(error as Error).message}` });
    return undefined;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      issues.push({ file: label, path: jsonPath(issue.path), message: issue.message });
    }
    return undefined;
  }
  return parsed.data;
}

/**
 * Loads every policy file directly in `dir` and compiles the set.
 * Throws PolicyLoadError listing every problem (file, JSON path, rule, reason).
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
    const policy = await readJsonFile(join(dir, name), name, policySchema, issues);
    if (policy !== undefined) files.push({ file: name, policy });
  }
  if (issues.length > 0) {
    // Compile the files that did parse as well, so one run reports every problem.
    try {
      compilePolicies(files);
    } catch (error) {
      if (!(error instanceof PolicyLoadError)) throw error;
      issues.push(...error.issues);
    }
    throw new PolicyLoadError(issues);
  }
  return compilePolicies(files);
}
