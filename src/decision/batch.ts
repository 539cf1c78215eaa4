import { pacer } from '../pace.js';
import type { DecisionMeta } from './record.js';
import type { DecisionOutcome, DecisionRequest, DecisionService, UnrecordedDecision } from './service.js';
import type { Turn } from './types.js';

/** How a batch runs: every item, or stop at the first deny, or at the first permit. */
export const evaluationsSemantics = ['execute_all', 'deny_on_first_deny', 'permit_on_first_permit'] as const;

export type EvaluationsSemantic = (typeof evaluationsSemantics)[number];

/** Why an item is invalid: one problem, at its path in the request. */
export interface InvalidField {
  readonly path: string;
  readonly message: string;
}

/**
 * One batch item: a request to decide, or why none could be formed from it and how long finding
 * that took, ms (`validationMs`): the time the item's deny is recorded with, with its own.
 */
export type BatchItem<E extends readonly InvalidField[]> = { readonly request: DecisionRequest } | { readonly invalid: E; readonly validationMs: number };

/** The answer to one batch item; an invalid item counts as a deny. */
export type BatchAnswer<E extends readonly InvalidField[]> = { readonly outcome: DecisionOutcome } | { readonly invalid: E };

/** The decision service as a batch uses it: pinned to one policy set, decisions recorded once the batch is answered. */
export type BatchDecisions = Pick<DecisionService, 'pinned'>;

interface Decided<E extends readonly InvalidField[]> {
  readonly answer: BatchAnswer<E>;
  readonly decision: UnrecordedDecision;
}

/** A turn asked for once the batch's request was answered without it. */
class Abandoned extends Error {}

/** A turn asked for once an earlier item decided a short-circuit batch. */
class Skipped extends Error {}

/**
 * Turns for decisions made together: granted one at a time in the order asked, each after
 * `pause`, taken once the evaluation in the turn before has returned; once `abandoned()`, every
 * turn fails with Abandoned. A turn granted as soon as the one before it was, its pause taken
 * before that one's evaluation, let two items evaluate between two turns of the event loop.
 */
function turns(pause: () => Promise<void>, abandoned: () => boolean): Turn['run'] {
  let last: Promise<unknown> = Promise.resolve();
  return (evaluate) => {
    const turn = last.then(async () => {
      await pause();
      if (abandoned()) throw new Abandoned();
      return evaluate();
    });
    last = turn.catch(() => undefined);
    return turn;
  };
}

/**
 * Decides a batch in request order. `execute_all` decides every item and answers all of them;
 * the short-circuit semantics stop after the first deny (an invalid item is a deny) or the
 * first permit, answering up to it. Every item answered is recorded, an invalid one as a deny
 * with reason `invalid_request`, all of them once the answer is made (in request order): so a
 * batch given up on records none. Every item is decided against the policy set in force when
 * the batch starts.
 *
 * Items start one after another, letting the event loop turn between them (see pacer), so
 * other requests and the request's deadline are served meanwhile, and are decided together:
 * their waits (cache lookups in Redis) overlap, and a batch of 100 waits about as long as one
 * item. Each item is then evaluated in a turn of its own, paced the same way: the lookups come
 * back together, and evaluating them all at once would hold the event loop for the whole
 * batch. Under a short-circuit semantic the turns go in request order, an item's after every
 * earlier item is decided, and none once an earlier item decided the batch, so no item after
 * the one that decides it is evaluated. Once `meta.abandoned` is set (the request was answered
 * without this batch) no further item starts or is evaluated, and what is returned reaches no
 * one.
 */
export async function decideBatch<E extends readonly InvalidField[]>(
  decisions: BatchDecisions,
  items: readonly BatchItem<E>[],
  semantic: EvaluationsSemantic,
  meta: DecisionMeta | undefined,
): Promise<BatchAnswer<E>[]> {
  const pause = pacer();
  const abandoned = () => meta?.abandoned === true;
  const pinned = decisions.pinned();
  const decide = async (item: BatchItem<E>, turn: Turn): Promise<Decided<E>> => {
    if ('invalid' in item) return { answer: { invalid: item.invalid }, decision: pinned.refuse(item.invalid.map((f) => `${f.path}: ${f.message}`).join('; '), meta, item.validationMs) };
    const decision = await pinned.decideUnrecorded(item.request, turn);
    return { answer: { outcome: decision.outcome }, decision };
  };
  const decidesBatch = (next: Decided<E>) => semantic !== 'execute_all' && (next.decision.outcome.decision === 'permit') === (semantic === 'permit_on_first_permit');
  const anyTurn = turns(pause, abandoned);
  /** The first item known to decide the batch, if any. */
  let decider: number | undefined;
  const started: Promise<Decided<E>>[] = [];
  /** Settles once every item started so far has: an item's turn waits for all earlier ones. */
  let earlier: Promise<unknown> = Promise.resolve();
  for (const [index, item] of items.entries()) {
    await pause();
    if (abandoned() || decider !== undefined) break;
    const previous = earlier;
    const skipped = () => decider !== undefined && decider < index;
    const inOrder = async <T>(evaluate: () => T): Promise<T> => {
      await previous;
      await pause();
      if (abandoned()) throw new Abandoned();
      if (skipped()) throw new Skipped();
      return evaluate();
    };
    const turn: Turn = { run: semantic === 'execute_all' ? anyTurn : inOrder, wanted: () => !abandoned() && !skipped() };
    const next = decide(item, turn).then((done) => {
      if (decidesBatch(done)) decider = Math.min(decider ?? index, index);
      return done;
    });
    // Awaited with the others below; handled now, so one failing while later items start is
    // not an unhandled rejection (which would end the process).
    next.catch(() => undefined);
    earlier = Promise.all([earlier, next.catch(() => undefined)]);
    started.push(next);
  }
  const decided: Decided<E>[] = [];
  for (const outcome of await Promise.allSettled(started)) {
    if (outcome.status === 'rejected') {
      if (outcome.reason instanceof Abandoned) return [];
      // Never a Skipped one: only an item after the one that decided the batch is skipped, and
      // the answer ends at that one.
      throw outcome.reason;
    }
    decided.push(outcome.value);
    if (decidesBatch(outcome.value)) break;
  }
  for (const { decision } of decided) pinned.record(decision.record);
  return decided.map(({ answer }) => answer);
}
