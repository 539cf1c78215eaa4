import { buildTestApp } from './app.js';
import { tempDir } from './tmp.js';

/**
 * The test app over a temporary policy directory holding `files` (see tempDir), removed after
 * the test file. Kept apart from app.ts, which the fault scenarios import outside vitest.
 */
export async function appOverPolicies(files: Readonly<Record<string, unknown>>) {
  return buildTestApp({ policyDir: await tempDir(files) });
}
