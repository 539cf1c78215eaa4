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

/** The decision service as a batch uses it: decisions recorded once the batch is answered. */
export type BatchDecisions = Pick<DecisionService, 'decideUnrecorded' | 'refuse' | 'record'>;

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
 */
export async function decideBatch<E extends readonly InvalidField[]>(
  decisions: BatchDecisions,
  items: readonly BatchItem<E>[],
  semantic: EvaluationsSemantic,
  meta: DecisionMeta | undefined,
): Promise<BatchAnswer<E>[]> {
  const decide = async (item: BatchItem<E>): Promise<Decided<E>> => {
    if ('invalid' in item) return { answer: item, decision: decisions.refuse(item.invalid.map((f) => `${f.path}: ${f.message}`).join('; '), meta) };
    const decision = await decisions.decideUnrecorded(item.request);
    return { answer: { outcome: decision.outcome }, decision };
  };
  let decided: Decided<E>[];
  if (semantic === 'execute_all') decided = await Promise.all(items.map(decide));
  else {
    decided = [];
    for (const item of items) {
      const next = await decide(item);
      decided.push(next);
      if ((next.decision.outcome.decision === 'permit') === (semantic === 'permit_on_first_permit')) break;
    }
  }
  for (const { decision } of decided) decisions.record(decision.record);
  return decided.map(({ answer }) => answer);
}
