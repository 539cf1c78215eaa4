import type { ClaimMapper } from '../token/claims.js';
import type { CompiledPolicySet } from './compiled.js';
import type { NamedType } from './entity-names.js';
import { PolicyLoadError, pushFileIssues, type PolicyIssue } from './errors.js';
import { policyDirFingerprint } from './fingerprint.js';
import { loadPolicyDir } from './load.js';
import { SourceReads } from './source-reads.js';
import { caseLabel, runPolicyTests } from './testing.js';

export interface CandidateOptions {
  /** Also run the fixtures in `dir/tests` and reject the set when any case fails, or none exists. */
  readonly runTests?: boolean;
  /** The `now` of test cases that set none. */
  readonly clock?: () => Date;
  /** How the tests map claims to subjects: the mapping the server decides with. */
  readonly claims?: ClaimMapper;
  /** The subject types of the server's tokens besides `user`, which entity types are held to (see `loadPolicyDir`). */
  readonly subjectTypes?: readonly NamedType[];
  /** The server's MAX_BODY_BYTES, which a test case's request must keep to. */
  readonly maxBodyBytes?: number;
  /** Loads to try while files keep changing underneath; default 3. */
  readonly attempts?: number;
}

async function loadOnce(dir: string, options: CandidateOptions): Promise<CompiledPolicySet> {
  const reads = new SourceReads();
  const set = await loadPolicyDir(dir, reads, options.subjectTypes);
  if (options.runTests !== true) return set;
  const { results } = await runPolicyTests(set, dir, { clock: options.clock, claims: options.claims, maxBodyBytes: options.maxBodyBytes, reads });
  // A set required to pass its tests has not passed any when it has none: removing tests/
  // (or emptying it) must not be the way past a failing case, as `pdp test` holds too.
  if (results.length === 0) {
    throw new PolicyLoadError([{ file: 'tests', path: '$', message: 'no test cases found; tests are required (POLICY_TESTS_ON_RELOAD=true), so a set without any is not accepted' }]);
  }
  // Each failing case is a problem of its file, reported as any file's are: the first
  // `maxIssuesPerFile`, then one saying there are more.
  const failedByFile = new Map<string, PolicyIssue[]>();
  for (const r of results) {
    if (r.passed) continue;
    const found = failedByFile.get(r.file) ?? [];
    failedByFile.set(r.file, found);
    found.push({ file: r.file, path: r.path, message: `test "${caseLabel(r.group, r.name)}" failed: ${r.failure}` });
  }
  if (failedByFile.size > 0) {
    const issues: PolicyIssue[] = [];
    for (const [file, found] of failedByFile) pushFileIssues(issues, file, found);
    throw new PolicyLoadError(issues);
  }
  return set;
}

/**
 * Loads and compiles the whole policy set in `dir` (policies, entity data, and with
 * `runTests` its fixtures) off to the side, ready to be swapped in. A set is only returned
 * when no file changed while it was read, so a half-written update is never accepted.
 * Throws PolicyLoadError listing every problem.
 */
export async function loadCandidateSet(dir: string, options: CandidateOptions = {}): Promise<CompiledPolicySet> {
  const attempts = options.attempts ?? 3;
  for (let attempt = 1; ; attempt += 1) {
    const before = await policyDirFingerprint(dir, options.runTests === true);
    let set: CompiledPolicySet | undefined;
    let failure: unknown;
    try {
      set = await loadOnce(dir, options);
    } catch (error) {
      failure = error;
    }
    const after = await policyDirFingerprint(dir, options.runTests === true);
    if (before === after) {
      if (set !== undefined) return set;
      throw failure;
    }
    if (attempt >= attempts) {
      throw new PolicyLoadError([{ file: dir, path: '$', message: `files kept changing while being read (${attempts} attempts)` }]);
    }
  }
}
