import type { DecisionOutcome } from './service.js';
import type { Action, Resource } from './types.js';

/**
 * The endpoints that ask for decisions. A closed list, because it becomes a metric label:
 * a new endpoint adds its name here.
 */
export const decisionEndpoints = ['decide', 'authzen_evaluation', 'authzen_evaluations', 'authzen_search'] as const;

export type DecisionEndpoint = (typeof decisionEndpoints)[number];

/** Where an answer came from: evaluated now, or found in the in-process or Redis cache. */
export type DecisionSource = 'evaluated' | 'memory' | 'redis';

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
}

/** One finished decision as the recorder sees it. It never holds the token. */
export interface DecisionRecord {
  readonly meta: DecisionMeta | undefined;
  /** When the decision was asked for. */
  readonly time: Date;
  /** Wall time spent deciding, seconds. */
  readonly durationSeconds: number;
  readonly action: Action;
  readonly resource: Resource;
  readonly context: Readonly<Record<string, unknown>>;
  readonly outcome: DecisionOutcome;
}

/** Told of every decision once (metrics, audit). Must not throw and must return at once. */
export interface DecisionRecorder {
  record(record: DecisionRecord): void;
}
