/** One problem in one policy source, located by file and JSON path. */
export interface PolicyIssue {
  readonly file: string;
  readonly path: string;
  readonly message: string;
  readonly rule?: string;
}

/** Where a rule was written, for a problem found after its policy was read. */
export interface RuleLocation {
  readonly file: string;
  readonly path: string;
  /** Its policy's resource type. */
  readonly type: string;
}

/** Most problems reported for one file: the first ones say what is wrong, and the rest cost memory. */
export const maxIssuesPerFile = 100;

const moreInFile = `more problems in this file, not listed beyond the first ${maxIssuesPerFile}`;

/** The problem that stands for those of `file` beyond its first `maxIssuesPerFile`. */
export function moreIssuesIn(file: string): PolicyIssue {
  return { file, path: '$', message: moreInFile };
}

/**
 * The problem that stands for `omitted`, the issues past `maxReportedIssues`: how many problems
 * they are, the lines saying a file has more left out of the count, which then says there are
 * more still (those files' problems beyond their first 100 were never counted).
 */
function moreIssuesThan(issues: readonly PolicyIssue[], omitted: readonly PolicyIssue[]): PolicyIssue {
  const problems = omitted.filter((issue) => issue.message !== moreInFile).length;
  const cut = issues.some((issue) => issue.message === moreInFile);
  return { file: '(all files)', path: '$', message: `${problems} more problems not listed${cut ? `, besides those beyond the first ${maxIssuesPerFile} of a file` : ''}` };
}

/** Adds the problems `found` in `file` to `issues`: the first `maxIssuesPerFile`, then one saying there are more. */
export function pushFileIssues(issues: PolicyIssue[], file: string, found: readonly PolicyIssue[]): void {
  issues.push(...found.slice(0, maxIssuesPerFile));
  if (found.length > maxIssuesPerFile) issues.push(moreIssuesIn(file));
}

/**
 * Most problems a failed load reports. A data file of a hundred thousand bad entries would
 * otherwise make as many issues, and a 422, a log line and a `lastReloadError` of megabytes.
 */
const maxReportedIssues = 1000;

/**
 * A policy set that failed to load; carries every problem found, not just the first, up to
 * `maxReportedIssues`, then one saying how many more there were.
 */
export class PolicyLoadError extends Error {
  override readonly name = 'PolicyLoadError';
  readonly code = 'policy_invalid';
  readonly issues: readonly PolicyIssue[];
  /** Every problem is listed: none was left out past `maxReportedIssues`. */
  readonly complete: boolean;

  constructor(issues: readonly PolicyIssue[]) {
    const complete = issues.length <= maxReportedIssues;
    const reported = complete ? issues : [...issues.slice(0, maxReportedIssues), moreIssuesThan(issues, issues.slice(maxReportedIssues))];
    super(reported.map(formatIssue).join('\n'));
    this.issues = reported;
    this.complete = complete;
  }
}

export function formatIssue(issue: PolicyIssue): string {
  const rule = issue.rule === undefined ? '' : ` (rule ${issue.rule})`;
  return `${issue.file} ${issue.path}${rule}: ${issue.message}`;
}
