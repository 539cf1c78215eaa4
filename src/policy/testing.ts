import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { withEntityData } from '../decision/enrich.js';
import type { Query, Verdict } from '../decision/types.js';
import { canonicalJson } from '../canonical-json.js';
import { pacer } from '../pace.js';
import { claimsToSubject, type ClaimMapper } from '../token/claims.js';
import type { CompiledPolicySet, CompiledRule } from './compiled.js';
import { CoverageRecorder, type CoverageReport } from './coverage.js';
import { PolicyLoadError, pushFileIssues, type PolicyIssue } from './errors.js';
import { evaluate, type RuleTrace } from './evaluate.js';
import { fixtureFileSchema, type CaseReasonCode, type FixtureCase, type FixtureFile, type FixtureRequest } from './fixtures.js';
import type { NamedType } from './entity-names.js';
import { jsonFilesInOptionalDir, listedNames, loadPolicyDir, misnamedIssues, readJsonFile, type SourceListing } from './load.js';
import { SourceReads } from './source-reads.js';
import { visibleSubfolders } from './subfolders.js';
import { wildcardAction } from './schema.js';

/** The outcome of one fixture case. */
export interface CaseResult {
  readonly file: string;
  readonly group?: string;
  readonly name: string;
  /** Where the case sits in its file, e.g. `$.groups[1].cases[0]`. */
  readonly path: string;
  readonly passed: boolean;
  /** Why it failed, in one line; empty when it passed. */
  readonly failure: string;
}

/** Every case result, and rule coverage when it was asked for. */
export interface PolicyTestRun {
  readonly results: readonly CaseResult[];
  readonly coverage?: CoverageReport;
}

export interface PolicyTestOptions {
  /** The `now` of cases that set none (nor their group or file). */
  readonly clock?: () => Date;
  readonly coverage?: boolean;
  /** How claims become a subject; the server's mapping when it runs the tests, else the default. */
  readonly claims?: ClaimMapper;
  /** The server's MAX_BODY_BYTES: a case whose request is larger as a body is refused (see `oversizedRequestIssues`). */
  readonly maxBodyBytes?: number;
  /** What the load of `set` has read: its test files count with them (see `loadFixtures`). */
  readonly reads?: SourceReads;
}

const empty: Readonly<Record<string, unknown>> = Object.freeze({});

/**
 * The query a fixture request stands for, as `/decide` builds it: the subject from claims, then
 * what the set's entity data knows of the subject and resource (see enrichQuery: stored resource
 * properties over the request's, the caller's claims over stored ones).
 */
export function fixtureRequestToQuery(set: CompiledPolicySet, request: FixtureRequest, mapClaims: ClaimMapper = claimsToSubject): Query {
  const action = typeof request.action === 'string' ? { name: request.action } : request.action;
  const query = {
    subject: mapClaims(request.subject.properties ?? empty, request.subject.type, request.subject.id),
    action: { name: action.name, properties: action.properties ?? empty },
    resource: { type: request.resource.type, id: request.resource.id, properties: request.resource.properties ?? empty },
    context: request.context ?? empty,
  };
  return withEntityData(set.entities, query, mapClaims);
}

function ruleIds(verdict: Verdict): string[] {
  return verdict.reasons.flatMap((r) => ('effect' in r ? [r.rule] : []));
}

function reasonCodes(verdict: Verdict): string[] {
  return verdict.reasons.flatMap((r) => ('code' in r ? [r.code] : []));
}

/** Reason codes a case fails on unless it lists them in `expect.reasons`. */
const mustBeExpected: readonly CaseReasonCode[] = ['condition_error', 'unknown_resource_type', 'action_case_mismatch', 'entity_case_mismatch', 'limit_exceeded'];

/** What a verdict lacks against a case's expectations, one phrase per mismatch. */
function mismatches(verdict: Verdict, expect: FixtureCase['expect']): string[] {
  const problems: string[] = [];
  if (verdict.decision !== expect.decision) {
    problems.push(`expected ${expect.decision}, got ${verdict.decision} (${JSON.stringify(verdict.reasons)})`);
  }
  const decided = ruleIds(verdict);
  const missingRules = (expect.rules ?? []).filter((rule) => !decided.includes(rule));
  if (missingRules.length > 0) problems.push(`expected deciding rules ${missingRules.join(', ')}, got [${decided.join(', ')}]`);
  const codes = reasonCodes(verdict);
  const expectedCodes = expect.reasons ?? [];
  const missingCodes = expectedCodes.filter((code) => !codes.includes(code));
  if (missingCodes.length > 0) problems.push(`expected reasons ${missingCodes.join(', ')}, got [${codes.join(', ')}]`);
  // A condition error usually means the case lacks test data, a resource type without a policy
  // or an action in the wrong case a typo that no expected deny would notice: each must be
  // expected for the case to pass.
  for (const code of mustBeExpected) {
    if (!codes.includes(code) || expectedCodes.includes(code)) continue;
    const found = verdict.reasons.filter((r) => 'code' in r && r.code === code);
    problems.push(`unexpected ${code.replaceAll('_', ' ')} ${JSON.stringify(found)}`);
  }
  if (expect.advice !== undefined) {
    const advice = verdict.advice.map((a) => a.advice);
    // Compared as JSON values: the order keys are written in is not part of the advice.
    if (canonicalJson(advice) !== canonicalJson(expect.advice)) {
      problems.push(`expected advice ${JSON.stringify(expect.advice)}, got ${JSON.stringify(advice)}`);
    }
  }
  return problems;
}

/**
 * The test file names in `dir` (`POLICY_DIR/tests`). Only a `tests` that does not exist means no
 * tests: one that cannot be read (a file, a link to nothing, no permission) would otherwise let
 * a set whose tests never ran pass as tested. So would one holding a folder of test files, which
 * are never read: a folder there is refused by name.
 */
export async function testFileNames(dir: string): Promise<string[]> {
  let listing: SourceListing | undefined;
  let folders: string[];
  try {
    listing = await jsonFilesInOptionalDir(dir);
    folders = listing === undefined ? [] : await visibleSubfolders(dir, listedNames(listing));
  } catch (error) {
    throw new PolicyLoadError([{ file: 'tests', path: '$', message: `cannot read the test directory: ${(error as Error).message}` }]);
  }
  if (listing === undefined) return [];
  // Its cases would never run, and a set whose tests did not run would pass as tested.
  const issues = [
    ...misnamedIssues(listing, 'tests'),
    ...folders.map((folder) => ({ file: join('tests', folder), path: '$', message: 'a folder in tests/ is not read, so its test files would never run: move them into tests/ itself' })),
  ];
  if (issues.length > 0) throw new PolicyLoadError(issues);
  return [...listing.names];
}

/** The actions the rules of a resource type name, `"*"` among them; undefined for a type without a policy. */
type ActionsNamed = (type: string) => ReadonlySet<string> | undefined;

/**
 * `ActionsNamed` for `set`, each type's gathered once, the first time a case asks: looking
 * through every rule's actions for each case took cases × action entries.
 */
function actionsNamedIn(set: CompiledPolicySet): ActionsNamed {
  const byType = new Map<string, ReadonlySet<string>>();
  return (type) => {
    const rules = set.byResource.get(type);
    if (rules === undefined) return undefined;
    let names = byType.get(type);
    if (names === undefined) {
      names = new Set(rules.all.flatMap((rule) => rule.actions));
      byType.set(type, names);
    }
    return names;
  };
}

/**
 * A case asking for an action no rule of its resource type names can only be denied, for
 * `no_applicable_rule`, whatever the policies say: most likely a misspelt action, which a
 * case expecting a deny would never notice. Unless the case expects that reason, it is an
 * issue at the action's path. A resource type without a policy, and an action the rules name
 * in another case, are left to the run (`unknown_resource_type`, `action_case_mismatch`, see
 * `mismatches`).
 */
function unnamedActionIssues(set: CompiledPolicySet, actionsNamed: ActionsNamed, file: string, cases: readonly PlacedCase[]): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  for (const { path, testCase } of cases) {
    const { request, expect } = testCase;
    const named = actionsNamed(request.resource.type);
    const name = typeof request.action === 'string' ? request.action : request.action.name;
    if (named === undefined || (expect.reasons ?? []).includes('no_applicable_rule')) continue;
    if (named.has(name) || named.has(wildcardAction)) continue;
    if (set.byResource.get(request.resource.type)?.actionsByFoldedCase.get(name) !== undefined) continue;
    issues.push({
      file,
      path: `${path}.request.action${typeof request.action === 'string' ? '' : '.name'}`,
      message: `no rule for resource type "${request.resource.type}" names the action "${name}", so the case can only be denied (list "no_applicable_rule" in expect.reasons if that is the point)`,
    });
  }
  return issues;
}

/**
 * The test files in `dir` that are JSON and pass their schema, each with its label (`tests/NAME`);
 * the problems of the others go to `issues`. Throws PolicyLoadError when `dir` cannot be read.
 */
async function readFixtureFiles(dir: string, issues: PolicyIssue[], reads: SourceReads): Promise<{ label: string; fixture: FixtureFile }[]> {
  const read: { label: string; fixture: FixtureFile }[] = [];
  for (const name of await testFileNames(dir)) {
    const label = join('tests', name);
    const fixture = await readJsonFile(join(dir, name), label, fixtureFileSchema, issues, reads);
    if (fixture !== undefined) read.push({ label, fixture });
  }
  return read;
}

/**
 * The problems the test files in `dir` have on their own, whatever the policies: a `tests` that
 * cannot be read, a file that is not JSON or fails its schema.
 */
async function fixtureFileIssues(dir: string, reads: SourceReads): Promise<PolicyIssue[]> {
  const issues: PolicyIssue[] = [];
  try {
    await readFixtureFiles(dir, issues, reads);
  } catch (error) {
    if (error instanceof PolicyLoadError) return [...error.issues];
    throw error;
  }
  return issues;
}

/**
 * Loads the policy set in `policyDir` to run or check its tests (`pdp validate`, `pdp test`). A set
 * refused is reported with its test files' own problems (JSON, schema): reported only once the
 * policies loaded, they took a run of their own after every fix to the policies.
 */
export async function loadPolicyDirWithTests(policyDir: string, reads: SourceReads, subjectTypes?: readonly NamedType[]): Promise<CompiledPolicySet> {
  try {
    return await loadPolicyDir(policyDir, reads, subjectTypes);
  } catch (error) {
    // A policy directory that cannot be read holds no tests to read either.
    const listed = await stat(policyDir).then((found) => found.isDirectory(), () => false);
    if (!(error instanceof PolicyLoadError) || !error.complete || !listed) throw error;
    throw new PolicyLoadError([...error.issues, ...(await fixtureFileIssues(join(policyDir, 'tests'), reads))]);
  }
}

/** The rules of a resource type by id; undefined for a type without a policy. */
type RulesById = (type: string) => ReadonlyMap<string, CompiledRule> | undefined;

/** `RulesById` for `set`, each type's gathered once, the first time a case asks. */
function rulesByIdIn(set: CompiledPolicySet): RulesById {
  const byType = new Map<string, ReadonlyMap<string, CompiledRule>>();
  return (type) => {
    const rules = set.byResource.get(type);
    if (rules === undefined) return undefined;
    let byId = byType.get(type);
    if (byId === undefined) {
      byId = new Map(rules.all.map((rule) => [rule.id, rule]));
      byType.set(type, byId);
    }
    return byId;
  };
}

/**
 * A rule in `expect.rules` that can never be among the case's deciding rules makes a case that
 * can never pass, found only once the tests ran: most likely a misspelt or renamed rule id. It is
 * an issue at its path when no rule of the case's resource type has that id, when the rule is of
 * the other effect than the expected decision (a decision is made by rules of its own effect), or
 * when it names neither the case's action nor `"*"`.
 */
function unreachableRuleIssues(rulesById: RulesById, file: string, cases: readonly PlacedCase[]): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  for (const { path, testCase } of cases) {
    const { request, expect } = testCase;
    const action = typeof request.action === 'string' ? request.action : request.action.name;
    (expect.rules ?? []).forEach((id, i) => {
      const rule = rulesById(request.resource.type)?.get(id);
      let why: string | undefined;
      if (rule === undefined) why = `no rule for resource type "${request.resource.type}" has the id "${id}"`;
      else if (rule.effect !== expect.decision) why = `"${id}" is a ${rule.effect} rule, which never decides a ${expect.decision}`;
      else if (!rule.actions.includes(action) && !rule.actions.includes(wildcardAction)) why = `the rule "${id}" names neither the action "${action}" nor "*"`;
      if (why !== undefined) issues.push({ file, path: `${path}.expect.rules[${i}]`, message: `${why}, so the case can never pass` });
    });
  }
  return issues;
}

/**
 * Reason codes of a deny that no rule decides: the decision's one code (but for condition errors
 * after `no_applicable_rule`), never beside a deciding rule, and never on a permit.
 */
const undecidedCodes: ReadonlySet<CaseReasonCode> = new Set(['no_applicable_rule', 'unknown_resource_type', 'action_case_mismatch', 'entity_case_mismatch', 'limit_exceeded']);

/**
 * A case expecting such a code of a permit, or beside the rules of `expect.rules`, can never
 * pass, found only once the tests ran: most likely the code or the decision was copied from
 * another case. It is an issue at the code's path.
 */
function contradictoryReasonIssues(file: string, cases: readonly PlacedCase[]): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  for (const { path, testCase } of cases) {
    const { expect } = testCase;
    const beside = expect.decision === 'permit' ? 'a permit' : (expect.rules ?? []).length > 0 ? 'the rules of expect.rules' : undefined;
    if (beside === undefined) continue;
    (expect.reasons ?? []).forEach((code, i) => {
      if (!undecidedCodes.has(code)) return;
      issues.push({ file, path: `${path}.expect.reasons[${i}]`, message: `"${code}" comes only with a deny that no rule decides, never with ${beside}, so the case can never pass` });
    });
  }
  return issues;
}

/** How a case is named in results and reports: `group › name` for a case of a group. */
export function caseLabel(group: string | undefined, name: string): string {
  return group === undefined ? name : `${group} › ${name}`;
}

/**
 * A case whose request, as a body, is larger than the server takes (MAX_BODY_BYTES) stands for a
 * request the server refuses (413) whatever it says, so deciding it would test what the server
 * never decides. Measured as the shortest body it could be, compact JSON in UTF-8, not as the file
 * lays it out: any body that states it is at least that large.
 */
function oversizedRequestIssues(file: string, cases: readonly PlacedCase[], maxBodyBytes: number): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  for (const { path, testCase } of cases) {
    const bytes = Buffer.byteLength(JSON.stringify(testCase.request));
    if (bytes <= maxBodyBytes) continue;
    issues.push({ file, path: `${path}.request`, message: `the request is ${bytes} bytes as a body, over MAX_BODY_BYTES (${maxBodyBytes}): the server refuses it (413) without deciding it` });
  }
  return issues;
}

/**
 * Two groups, or two cases reported under one name (`caseLabel`: a case of the file's own list
 * named `g › one` and the case `one` of group `g` are one name too): their results could not be
 * told apart in a report, and a JUnit consumer keys cases by name, so a failing case could hide
 * behind a passing one. The later one is the issue, naming the first.
 */
function duplicateNameIssues(file: string, fixture: FixtureFile, cases: readonly PlacedCase[]): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  const check = (what: 'case' | 'group', named: readonly { readonly name: string; readonly path: string }[]) => {
    const first = new Map<string, string>();
    for (const { name, path } of named) {
      const seen = first.get(name);
      if (seen === undefined) first.set(name, path);
      else issues.push({ file, path: `${path}.name`, message: `duplicate ${what} name "${name}" (also at ${seen})` });
    }
  };
  check('group', (fixture.groups ?? []).map((group, g) => ({ name: group.name, path: `$.groups[${g}]` })));
  check('case', cases.map(({ group, path, testCase }) => ({ name: caseLabel(group, testCase.name), path })));
  return issues;
}

/**
 * Loads every fixture file in `dir` for the policy set `set` (throws PolicyLoadError on a bad
 * file, a `dir` that cannot be read, a name given twice, a case asking for an action no rule
 * names or expecting a rule that never decides it or a reason code beside a permit or rules, or, given `maxBodyBytes`, a case whose request the server would refuse as too large;
 * the first `maxIssuesPerFile` problems of a file, then one saying there are more).
 * `reads`: what the load of `set` read, given to `loadPolicyDir`, with which the test files count.
 */
export async function loadFixtures(dir: string, set: CompiledPolicySet, maxBodyBytes?: number, reads = new SourceReads()): Promise<LoadedFixture[]> {
  const issues: PolicyIssue[] = [];
  const loaded: LoadedFixture[] = [];
  const actionsNamed = actionsNamedIn(set);
  const rulesById = rulesByIdIn(set);
  for (const { label, fixture } of await readFixtureFiles(dir, issues, reads)) {
    const cases = placedCases(fixture);
    const found = [...duplicateNameIssues(label, fixture, cases), ...unnamedActionIssues(set, actionsNamed, label, cases), ...unreachableRuleIssues(rulesById, label, cases), ...contradictoryReasonIssues(label, cases)];
    if (maxBodyBytes !== undefined) found.push(...oversizedRequestIssues(label, cases, maxBodyBytes));
    pushFileIssues(issues, label, found);
    loaded.push({ file: label, cases });
  }
  if (issues.length > 0) throw new PolicyLoadError(issues);
  return loaded;
}

interface PlacedCase {
  readonly group?: string;
  readonly path: string;
  readonly now: string | undefined;
  readonly testCase: FixtureCase;
}

/** A test file that loaded: its cases, each with its path, group and `now`. */
export interface LoadedFixture {
  readonly file: string;
  readonly cases: readonly PlacedCase[];
}

/** The cases of a file, its own list first, then each group's, placed once for every check and the run. */
function placedCases(fixture: FixtureFile): PlacedCase[] {
  const placed: PlacedCase[] = [];
  (fixture.cases ?? []).forEach((testCase, i) => {
    placed.push({ path: `$.cases[${i}]`, now: testCase.now ?? fixture.now, testCase });
  });
  (fixture.groups ?? []).forEach((group, g) => {
    group.cases.forEach((testCase, i) => {
      placed.push({ group: group.name, path: `$.groups[${g}].cases[${i}]`, now: testCase.now ?? group.now ?? fixture.now, testCase });
    });
  });
  return placed;
}

/**
 * Runs every case of every fixture file under `policyDir/tests` through the evaluator,
 * recording rule coverage when asked. The event loop turns between cases every few
 * milliseconds (see `pacer`): the server runs the tests on reload while it answers requests,
 * and 50 cases of costly conditions held it 8 s in one piece. A case itself is not cut: it
 * takes as long as the same request to `/decide`.
 */
export async function runPolicyTests(set: CompiledPolicySet, policyDir: string, options: PolicyTestOptions = {}): Promise<PolicyTestRun> {
  const clock = options.clock ?? (() => new Date());
  const fixtures = await loadFixtures(join(policyDir, 'tests'), set, options.maxBodyBytes, options.reads);
  const recorder = options.coverage === true ? new CoverageRecorder(set) : undefined;
  const results: CaseResult[] = [];
  const pace = pacer();
  for (const { file, cases } of fixtures) {
    for (const { group, path, now, testCase } of cases) {
      await pace();
      const trace: RuleTrace[] | undefined = recorder === undefined ? undefined : [];
      const verdict = evaluate(set, fixtureRequestToQuery(set, testCase.request, options.claims), now === undefined ? clock() : new Date(now), trace);
      if (trace !== undefined) recorder?.record(trace);
      const problems = mismatches(verdict, testCase.expect);
      results.push({ file, group, name: testCase.name, path, passed: problems.length === 0, failure: problems.join('; ') });
    }
  }
  return { results, ...(recorder !== undefined && { coverage: recorder.report() }) };
}
