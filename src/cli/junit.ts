import type { PolicyIssue } from '../policy/errors.js';
import { caseLabel, type CaseResult } from '../policy/testing.js';
import { codePointEscape } from '../printable.js';

/** One test case of the report: passed when `failure` is undefined. */
interface JunitCase {
  readonly name: string;
  readonly failure?: { readonly message: string; readonly detail: string };
}

/** One test suite of the report: a test file, or the policy set itself. */
interface JunitSuite {
  readonly name: string;
  readonly cases: readonly JunitCase[];
}

/**
 * Characters XML 1.0 cannot hold at all, even escaped (controls but tab, line feed and carriage
 * return; lone surrogates; U+FFFE and U+FFFF), which a case name, a string in a fixture, may
 * contain: written as `\u{…}` instead, so the report stays a document every reader parses.
 */
const notXml = new RegExp(String.raw`[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]`, 'gu');

/** As text, whose carriage return a reader would read as a line feed (XML 1.0 §2.11) unless written as a reference. */
function escapeXml(text: string): string {
  return text
    .replace(notXml, codePointEscape)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\r/g, '&#13;');
}

/** As an attribute value in double quotes, whose line feeds and tabs a reader would turn into spaces unless written as references. */
function escapeAttribute(text: string): string {
  return escapeXml(text).replace(/"/g, '&quot;').replace(/\n/g, '&#10;').replace(/\t/g, '&#9;');
}

function report(suites: readonly JunitSuite[]): string {
  const count = (cases: readonly JunitCase[]) => `tests="${cases.length}" failures="${cases.filter((c) => c.failure !== undefined).length}"`;
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>', `<testsuites name="pdp test" ${count(suites.flatMap((s) => s.cases))}>`];
  for (const suite of suites) {
    const name = escapeAttribute(suite.name);
    lines.push(`  <testsuite name="${name}" ${count(suite.cases)}>`);
    for (const testCase of suite.cases) {
      const open = `    <testcase classname="${name}" name="${escapeAttribute(testCase.name)}"`;
      if (testCase.failure === undefined) {
        lines.push(`${open}/>`);
        continue;
      }
      lines.push(`${open}>`, `      <failure message="${escapeAttribute(testCase.failure.message)}">${escapeXml(testCase.failure.detail)}</failure>`, '    </testcase>');
    }
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>', '');
  return lines.join('\n');
}

const failing = (message: string, detail = message): JunitCase => ({ name: message, failure: { message, detail } });

/**
 * The JUnit XML report of a `pdp test` run, as CI servers (GitLab, Jenkins, GitHub's test
 * reporters) read it: a suite per test file, a case per fixture case (`group › name`), a failure
 * with its one-line reason and its place in the file. `problems` are what failed the run beyond
 * its cases (no case at all, coverage below the minimum), reported as failed cases of a suite
 * of their own, so the report fails whenever the run does.
 */
export function junitReport(results: readonly CaseResult[], problems: readonly string[]): string {
  const byFile = new Map<string, JunitCase[]>();
  for (const result of results) {
    const name = caseLabel(result.group, result.name);
    const cases = byFile.get(result.file) ?? [];
    byFile.set(result.file, cases);
    cases.push(result.passed ? { name } : { name, failure: { message: result.failure, detail: `${result.path}: ${result.failure}` } });
  }
  const suites: JunitSuite[] = [...byFile].map(([name, cases]) => ({ name, cases }));
  if (problems.length > 0) suites.push({ name: 'pdp test', cases: problems.map((problem) => failing(problem)) });
  return report(suites);
}

/**
 * The JUnit XML report of a policy set or settings that could not be loaded: a failed case per
 * problem, named by file and path, and a second problem at one place (a name both too short and
 * of the wrong characters) by ` (2)` after them: consumers key cases by name, and would show one
 * of the two under that name, its other problem lost.
 */
export function junitLoadReport(issues: readonly PolicyIssue[]): string {
  const seen = new Map<string, number>();
  const cases = issues.map((issue): JunitCase => {
    const place = `${issue.file} ${issue.path}`;
    const nth = (seen.get(place) ?? 0) + 1;
    seen.set(place, nth);
    return { name: nth === 1 ? place : `${place} (${nth})`, failure: { message: issue.message, detail: `${place}${issue.rule === undefined ? '' : ` (rule ${issue.rule})`}: ${issue.message}` } };
  });
  return report([{ name: 'policy set', cases }]);
}
