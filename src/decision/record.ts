import type { DecisionOutcome } from './service.js';
import type { Action, Resource } from './types.js';

/**
 * The endpoints that ask for decisions. A closed list, because it becomes a metric label:
 * a new endpoint adds its name here.
 */
export const decisionEndpoints = ['decide', 'authzen_evaluation', 'authzen_evaluations', 'authzen_search'] as const;

export type DecisionEndpoint = (typeof decisionEndpoints)[number];

/**
 * Where an answer came from: evaluated now, found in the in-process or Redis cache, or shared
 * with an identical request whose cache lookup was already in flight (single flight). A closed
 * list, because it becomes a metric label.
 */
export const decisionSources = ['evaluated', 'memory', 'redis', 'coalesced'] as const;

export type DecisionSource = (typeof decisionSources)[number];

/** Who sent the request, as caller authentication established it. */
export interface DecisionCaller {
  readonly id: string;
  readonly trusted: boolean;
}

/** Facts about the request that never change the decision but are recorded with it. */
export interface DecisionMeta {
  readonly endpoint: DecisionEndpoint;
  readonly requestId?: string;
  readonly traceId?: string;
  readonly caller?: DecisionCaller;
  /**
   * Set once the request has been answered without its decisions (it ran out of time), or its
   * client has gone: a decision finished after that was given to no one, so it is not recorded.
   */
  abandoned?: boolean;
}

/** A decision as recorded: as answered, but `source` says `coalesced` where it was shared. */
export interface RecordedOutcome extends Omit<DecisionOutcome, 'source' | 'coalesced'> {
  readonly source?: Exclude<DecisionSource, 'evaluated'>;
}

/** One finished decision as the recorder sees it. It never holds the token. */
export interface DecisionRecord {
  readonly meta: DecisionMeta | undefined;
  /** When the decision was asked for. */
  readonly time: Date;
  /** Wall time spent deciding, seconds. */
  readonly durationSeconds: number;
  /** The request decided on; null for none that could be formed (an invalid batch item). */
  readonly action: Action | null;
  readonly resource: Resource | null;
  readonly context: Readonly<Record<string, unknown>> | null;
  readonly outcome: RecordedOutcome;
}

/**
 * Told of every decision once (metrics, audit). Must not throw and must return at once. The
 * decisions of one request (a batch, a search page) are recorded one after the other, with no
 * other request's between them: the audit log bounds a request's lines by that.
 */
export interface DecisionRecorder {
  record(record: DecisionRecord): void;
}
