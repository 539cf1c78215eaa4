/**
 * What the harness and the load process (bench/faults/load.ts) say to each other: the
 * configuration goes in as one JSON argument, marks go in on stdin as JSON lines, events
 * and the final summary come out on stdout as JSON lines. Times are epoch milliseconds
 * with sub-millisecond precision, comparable across the two processes.
 */

export interface HeldRequests {
  /** How many decision requests to open and hold with their last body byte unsent. */
  readonly count: number;
  /** When to open them, ms after the load starts. */
  readonly afterMs: number;
  /** How long to hold them after they are open, ms; then the last byte goes. */
  readonly holdMs: number;
}

export interface LoadConfig {
  readonly port: number;
  /** Requests in flight at once (and keep-alive connections). */
  readonly concurrency: number;
  /** Stop starting requests after this long, ms. */
  readonly durationMs: number;
  /** Stop starting requests after this many. */
  readonly maxRequests: number;
  /** Requests per second, paced; absent: as fast as `concurrency` allows. */
  readonly ratePerSecond?: number;
  /** Seed of the generated request bodies, so a run can be repeated. */
  readonly seed: number;
  /** Share of requests that break a limit on purpose (0 … 1); each has a known answer. */
  readonly hostileShare?: number;
  /** Emit an `interval` event this often, ms. */
  readonly intervalMs?: number;
  readonly held?: HeldRequests;
  /** Stop once every attempt has been refused for this long, ms (the server is gone). */
  readonly stopAfterRefusedMs?: number;
}

/** Tallies for a set of requests. */
export interface Counts {
  sent: number;
  /** Got an HTTP answer (any status). */
  answered: number;
  /** Answered with the expected status, and for decisions the decision the oracle gives. */
  correct: number;
  /** A permit where the oracle says deny: the failure that must never happen. */
  wrongPermit: number;
  /** A deny where the oracle says permit. */
  wrongDeny: number;
  /** Answered with a status other than expected (5xx counted again below). */
  unexpectedStatus: number;
  status5xx: number;
  /** The connection was refused (nothing listening). */
  refused: number;
  /** The connection closed or reset before an answer. */
  reset: number;
  /**
   * The service closed the connection while the request was still being sent: its way of
   * refusing an oversized body (the client sees EPIPE or ECONNRESET); allowed only there.
   */
  closedWhileSending: number;
  /** No answer within the client timeout. */
  timedOut: number;
  otherErrors: number;
}

export interface Latency {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

export interface PhaseSummary {
  /** `start`, or the name of the mark that opened the phase. */
  readonly name: string;
  readonly from: number;
  readonly counts: Counts;
  /** The phase's answered requests only, ms. */
  readonly latency: Latency;
}

export interface LoadSummary {
  readonly startedAt: number;
  readonly endedAt: number;
  readonly total: Counts;
  /** Answered requests only, ms. */
  readonly latency: Latency;
  /** Requests grouped by the phase they started in. */
  readonly phases: readonly PhaseSummary[];
  /** The held requests, when configured. */
  readonly held?: Counts;
  /** The same tallies by kind of request: `decide`, or the kind of hostile request. */
  readonly kinds: Readonly<Record<string, Counts>>;
  /** Requests not answered as expected, by kind, then by what happened instead. */
  readonly misses: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Status codes seen, with counts. */
  readonly statuses: Readonly<Record<string, number>>;
}

export type LoadEvent =
  | { readonly event: 'started'; readonly at: number }
  | { readonly event: 'held-open'; readonly at: number; readonly count: number }
  | { readonly event: 'interval'; readonly at: number; readonly counts: Counts; readonly latency: Latency }
  | { readonly event: 'done'; readonly at: number; readonly summary: LoadSummary };

/** A mark the harness sends in: requests started from `at` on belong to phase `name`. */
export interface Mark {
  readonly mark: string;
  readonly at: number;
}

export function emptyCounts(): Counts {
  return { sent: 0, answered: 0, correct: 0, wrongPermit: 0, wrongDeny: 0, unexpectedStatus: 0, status5xx: 0, refused: 0, reset: 0, closedWhileSending: 0, timedOut: 0, otherErrors: 0 };
}

/** Now, epoch ms with sub-millisecond precision. */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Percentiles of a list of ms figures (the list is sorted in place). */
export function latencyOf(samples: number[]): Latency {
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? 0;
  const round = (ms: number) => Math.round(ms * 1000) / 1000;
  return { p50: round(at(0.5)), p90: round(at(0.9)), p99: round(at(0.99)), max: round(samples.at(-1) ?? 0) };
}
