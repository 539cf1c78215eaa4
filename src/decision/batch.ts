import type { DecisionOutcome, DecisionRequest, DecisionService } from './service.js';

/** How a batch runs: every item, or stop at the first deny, or at the first permit. */
export const evaluationsSemantics = ['execute_all', 'deny_on_first_deny', 'permit_on_first_permit'] as const;

export type EvaluationsSemantic = (typeof evaluationsSemantics)[number];

/** One batch item: a request to decide, or why none could be formed from it. */
export type BatchItem<E> = { readonly request: DecisionRequest } | { readonly invalid: E };

/** The answer to one batch item; an invalid item counts as a deny. */
export type BatchAnswer<E> = { readonly outcome: DecisionOutcome } | { readonly invalid: E };

function permits<E>(answer: BatchAnswer<E>): boolean {
  return 'outcome' in answer && answer.outcome.decision === 'permit';
}

/**
 * Decides a batch in request order. `execute_all` decides every item (concurrently) and
 * answers all of them; the short-circuit semantics decide one after another and stop after
 * the first deny (an invalid item is a deny) or the first permit, answering up to it.
 */
export async function decideBatch<E>(
  decisions: Pick<DecisionService, 'decide'>,
  items: readonly BatchItem<E>[],
  semantic: EvaluationsSemantic,
): Promise<BatchAnswer<E>[]> {
  const answer = async (item: BatchItem<E>): Promise<BatchAnswer<E>> =>
    'invalid' in item ? item : { outcome: await decisions.decide(item.request) };
  if (semantic === 'execute_all') return Promise.all(items.map(answer));
  const answers: BatchAnswer<E>[] = [];
  for (const item of items) {
    const next = await answer(item);
    answers.push(next);
    if (permits(next) === (semantic === 'permit_on_first_permit')) break;
  }
  return answers;
}
