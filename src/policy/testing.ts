import { join } from 'node:path';
import type { Query, Reason } from '../decision/types.js';
import { claimsToSubject } from '../token/claims.js';
import type { CompiledPolicySet } from './compiled.js';
import { PolicyLoadError, type PolicyIssue } from './errors.js';
import { evaluate } from './evaluate.js';
import { fixtureFileSchema, type FixtureCase, type FixtureFile } from './fixtures.js';
import { jsonFilesIn, readJsonFile } from './load.js';

/** The outcome of one fixture case. */
export interface CaseResult {
  readonly file: string;
  readonly name: string;
  readonly passed: boolean;
  /** Why it failed, in one line; empty when it passed. */
  readonly failure: string;
}

const empty: Readonly<Record<string, unknown>> = Object.freeze({});

/** The query a fixture case asks, with the subject mapped from its claims as a token's would be. */
export function fixtureQuery(request: FixtureCase['request']): Query {
  const action = typeof request.action === 'string' ? { name: request.action } : request.action;
  return {
    subject: claimsToSubject(request.subject.properties ?? empty, request.subject.type, request.subject.id),
    action: { name: action.name, properties: action.properties ?? empty },
    resource: { type: request.resource.type, id: request.resource.id, properties: request.resource.properties ?? empty },
    context: request.context ?? empty,
  };
}

function ruleIds(reasons: readonly Reason[]): string[] {
  return reasons.flatMap((r) => ('effect' in r ? [r.rule] : []));
}

function codesOf(reasons: readonly Reason[]): string[] {
  return reasons.flatMap((r) => ('code' in r ? [r.code] : []));
}

/** Runs one case against a compiled set; pure apart from the clock given. */
export function runCase(set: CompiledPolicySet, file: string, testCase: FixtureCase, now: Date): CaseResult {
  const verdict = evaluate(set, fixtureQuery(testCase.request), now);
  const problems: string[] = [];
  const { expect } = testCase;
  const decided = ruleIds(verdict.reasons);
  if (verdict.decision !== expect.decision) {
    problems.push(`expected ${expect.decision}, got ${verdict.decision} (${JSON.stringify(verdict.reasons)})`);
  }
  const missing = (expect.rules ?? []).filter((rule) => !decided.includes(rule));
  if (missing.length > 0) problems.push(`expected deciding rules ${missing.join(', ')}, got [${decided.join(', ')}]`);
  const codes = codesOf(verdict.reasons);
  const expectedCodes = expect.codes ?? [];
  const missingCodes = expectedCodes.filter((code) => !codes.includes(code));
  if (missingCodes.length > 0) problems.push(`expected reason codes ${missingCodes.join(', ')}, got [${codes.join(', ')}]`);
  if (codes.includes('condition_error') && !expectedCodes.includes('condition_error')) {
    const errors = verdict.reasons.filter((r) => 'code' in r && r.code === 'condition_error');
    problems.push(`unexpected condition error ${JSON.stringify(errors)}`);
  }
  if (expect.advice !== undefined) {
    const advice = verdict.advice.map((a) => a.advice);
    if (JSON.stringify(advice) !== JSON.stringify(expect.advice)) {
      problems.push(`expected advice ${JSON.stringify(expect.advice)}, got ${JSON.stringify(advice)}`);
    }
  }
  return { file, name: testCase.name, passed: problems.length === 0, failure: problems.join('; ') };
}

/** Loads every fixture file in `dir` (throws PolicyLoadError on a bad file). */
export async function loadFixtures(dir: string): Promise<{ file: string; fixture: FixtureFile }[]> {
  let names: string[];
  try {
    names = await jsonFilesIn(dir);
  } catch {
    return [];
  }
  const issues: PolicyIssue[] = [];
  const loaded: { file: string; fixture: FixtureFile }[] = [];
  for (const name of names) {
    const label = join('tests', name);
    const fixture = await readJsonFile(join(dir, name), label, fixtureFileSchema, issues);
    if (fixture !== undefined) loaded.push({ file: label, fixture });
  }
  if (issues.length > 0) throw new PolicyLoadError(issues);
  return loaded;
}

/** Runs every case of every fixture file under `policyDir/tests`. */
export async function runPolicyTests(set: CompiledPolicySet, policyDir: string, clock: () => Date = () => new Date()): Promise<CaseResult[]> {
  const fixtures = await loadFixtures(join(policyDir, 'tests'));
  return fixtures.flatMap(({ file, fixture }) => {
    const now = fixture.now === undefined ? clock() : new Date(fixture.now);
    return fixture.cases.map((testCase) => runCase(set, file, testCase, now));
  });
}
