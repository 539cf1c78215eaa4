import { pacer } from '../pace.js';
import type { DecisionMeta } from './record.js';
import type { DecisionOutcome, DecisionRequest, DecisionService, UnrecordedDecision } from './service.js';

/** How a batch runs: every item, or stop at the first deny, or at the first permit. */
export const evaluationsSemantics = ['execute_all', 'deny_on_first_deny', 'permit_on_first_permit'] as const;

export type EvaluationsSemantic = (typeof evaluationsSemantics)[number];

/** Why an item is invalid: one problem, at its path in the request. */
export interface InvalidField {
  readonly path: string;
  readonly message: string;
}

/** One batch item: a request to decide, or why none could be formed from it. */
export type BatchItem<E extends readonly InvalidField[]> = { readonly request: DecisionRequest } | { readonly invalid: E };

/** The answer to one batch item; an invalid item counts as a deny. */
export type BatchAnswer<E extends readonly InvalidField[]> = { readonly outcome: DecisionOutcome } | { readonly invalid: E };

/** The decision service as a batch uses it: pinned to one policy set, decisions recorded once the batch is answered. */
export type BatchDecisions = Pick<DecisionService, 'pinned'>;

interface Decided<E extends readonly InvalidField[]> {
  readonly answer: BatchAnswer<E>;
  readonly decision: UnrecordedDecision;
}

/**
 * Decides a batch in request order. `execute_all` decides every item (concurrently) and
 * answers all of them; the short-circuit semantics decide one after another and stop after
 * the first deny (an invalid item is a deny) or the first permit, answering up to it.
 * Every item answered is recorded, an invalid one as a deny with reason `invalid_request`,
 * all of them once the answer is made (in request order): so a batch given up on records none.
 * Every item is decided against the policy set in force when the batch starts.
 *
 * Items start one after another, letting the event loop turn between them (see pacer), so
 * other requests and the request's deadline are served meanwhile. Once `meta.abandoned` is
 * set (the request was answered without this batch) no further item starts, and what is
 * returned reaches no one.
 */
export async function decideBatch<E extends readonly InvalidField[]>(
  decisions: BatchDecisions,
  items: readonly BatchItem<E>[],
  semantic: EvaluationsSemantic,
  meta: DecisionMeta | undefined,
): Promise<BatchAnswer<E>[]> {
  const pinned = decisions.pinned();
  const decide = async (item: BatchItem<E>): Promise<Decided<E>> => {
    if ('invalid' in item) return { answer: item, decision: pinned.refuse(item.invalid.map((f) => `${f.path}: ${f.message}`).join('; '), meta) };
    const decision = await pinned.decideUnrecorded(item.request);
    return { answer: { outcome: decision.outcome }, decision };
  };
  const pause = pacer();
  const abandoned = () => meta?.abandoned === true;
  let decided: Decided<E>[];
  if (semantic === 'execute_all') {
    const started: Promise<Decided<E>>[] = [];
    for (const item of items) {
      await pause();
      if (abandoned()) break;
      const next = decide(item);
      // Awaited with the others below; handled now, so one failing while later items start is
      // not an unhandled rejection (which would end the process).
      next.catch(() => undefined);
      started.push(next);
    }
    decided = await Promise.all(started);
  } else {
    decided = [];
    for (const item of items) {
      await pause();
      if (abandoned()) break;
      const next = await decide(item);
      decided.push(next);
      if ((next.decision.outcome.decision === 'permit') === (semantic === 'permit_on_first_permit')) break;
    }
  }
  for (const { decision } of decided) pinned.record(decision.record);
  return decided.map(({ answer }) => answer);
}
