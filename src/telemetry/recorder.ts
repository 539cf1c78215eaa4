import type { DecisionRecorder } from '../decision/record.js';
import type { PdpMetrics } from './metrics.js';

/**
 * Counts every decision in the metrics, then hands it to the audit log when there is one.
 * A request without `meta` counts under endpoint `unspecified`.
 */
export function telemetryRecorder(metrics: PdpMetrics, audit?: DecisionRecorder): DecisionRecorder {
  return {
    record(record) {
      metrics.decision(record.meta?.endpoint ?? 'unspecified', record.outcome.decision, record.outcome.source ?? 'evaluated', record.durationSeconds);
      audit?.record(record);
    },
  };
}

export interface AuditErrorReporterOptions {
  readonly metrics: PdpMetrics;
  readonly warn: (fields: Record<string, unknown>, message: string) => void;
  /** At most one log line per this many milliseconds; every failure is counted regardless. */
  readonly intervalMs?: number;
  /**
   * Milliseconds on a clock that only moves forward (performance.now() unless set): on the wall
   * clock, one stepped back (NTP, a virtual machine resuming) would hold every warning back
   * until it caught up, a day of lost lines unsaid for a clock a day ahead.
   */
  readonly now?: () => number;
}

/** Counts and warns of lost audit lines; see `auditErrorReporter`. */
export interface AuditErrorReport {
  (error: unknown, requestId?: string, lines?: number): void;
  /**
   * Warns of the losses the throttle has held back since the last warning, if any: for the
   * shutdown, whose lines given up would otherwise go unsaid, and the count with the process.
   */
  flush(): void;
}

/**
 * Turns lost audit lines into `pdp_audit_errors_total` (one per line lost) and an
 * application-log warning, throttled so a broken disk cannot flood the log. `lines` is how many
 * lines the error lost: 1 for one line refused, the count of a dropped or failed batch, 0 for a
 * failure that lost none by itself (a file that could not be opened: the lines it then loses
 * are counted as they come).
 */
export function auditErrorReporter(options: AuditErrorReporterOptions): AuditErrorReport {
  const intervalMs = options.intervalMs ?? 60_000;
  const now = options.now ?? (() => performance.now());
  let lastLogged = -Infinity;
  let suppressed = 0;
  let suppressedLines = 0;
  let lastError: unknown;
  const report = (error: unknown, requestId?: string, lines = 1) => {
    for (let i = 0; i < lines; i += 1) options.metrics.auditError();
    const t = now();
    if (t - lastLogged < intervalMs) {
      suppressed += 1;
      suppressedLines += lines;
      lastError = error;
      return;
    }
    options.warn({ err: error, requestId, lines, suppressed }, 'audit line not written');
    lastLogged = t;
    suppressed = 0;
    suppressedLines = 0;
  };
  report.flush = () => {
    if (suppressed === 0) return;
    options.warn({ err: lastError, lines: suppressedLines, suppressed }, 'audit line not written');
    lastLogged = now();
    suppressed = 0;
    suppressedLines = 0;
  };
  return report;
}
