/** One problem in one policy source, located by file and JSON path. */
export interface PolicyIssue {
  readonly file: string;
  readonly path: string;
  readonly message: string;
  readonly rule?: string;
}

/** A policy set that failed to load; carries every problem found, not just the first. */
export class PolicyLoadError extends Error {
  override readonly name = 'PolicyLoadError';
  readonly code = 'policy_invalid';

  constructor(readonly issues: readonly PolicyIssue[]) {
    super(issues.map(formatIssue).join('\n'));
  }
}

export function formatIssue(issue: PolicyIssue): string {
  const rule = issue.rule === undefined ? '' : ` (rule ${issue.rule})`;
  return `${issue.file} ${issue.path}${rule}: ${issue.message}`;
}
