import { z } from 'zod';
import { jsonObjectSchema } from '../../json-object.js';
import { isActionName, isObject, isOptionalObject, isStatedName } from '../plain-json.js';
import { actionNameSchema, resourceIdSchema, subjectIdSchema, typeNameSchema } from '../../request-names.js';
import { requestLimits } from '../../request-limits.js';
import type { DecisionMeta } from '../../decision/record.js';
import type { DecisionOutcome, DecisionRequest } from '../../decision/service.js';
import type { RuleTrace } from '../../policy/evaluate.js';

/** Properties and context: any JSON object, every member kept (see `jsonObjectSchema`). */
export const propertiesSchema = jsonObjectSchema;

/**
 * An AuthZEN subject or resource: `type` and `id` strings, optional properties. Unknown keys are
 * dropped. Neither may be made only of whitespace, control or invisible characters (see
 * `request-names.ts`): such a name or id names nothing a policy or entity data holds.
 */
export const entitySchema = z.object({ type: typeNameSchema, id: resourceIdSchema, properties: propertiesSchema.optional() });

/** An AuthZEN subject: an entity whose id names someone (see `subjectIdSchema`). */
export const subjectSchema = entitySchema.extend({ id: subjectIdSchema });

/** The entity a search looks for: only its type counts, an id or properties are ignored. */
export const searchedEntitySchema = z.object({ type: typeNameSchema });

export const actionSchema = z.object({
  name: actionNameSchema,
  properties: propertiesSchema.optional(),
});

/** The AuthZEN 4-tuple of one access evaluation. */
export const evaluationSchema = z.object({
  subject: subjectSchema,
  action: actionSchema,
  resource: entitySchema,
  context: propertiesSchema.optional(),
});

const isEntity = (value: unknown) =>
  isObject(value) && isStatedName(value['type'], requestLimits.maxName) && isStatedName(value['id'], requestLimits.maxId) && isOptionalObject(value['properties']);

/**
 * Whether `raw` holds an evaluation `evaluationSchema` accepts and would return with the same
 * members, checked by hand to skip zod's copy of every object; false for anything else, valid or
 * not, which is then zod's to judge. Members outside the 4-tuple (such as `options`) are not looked at.
 */
export function isPlainEvaluation(raw: unknown): raw is WireEvaluation {
  if (!isObject(raw) || !isEntity(raw['subject']) || !isEntity(raw['resource']) || !isOptionalObject(raw['context'])) return false;
  const action = raw['action'];
  return isObject(action) && isActionName(action['name']) && isOptionalObject(action['properties']);
}

export type WireEntity = z.infer<typeof entitySchema>;
export type WireAction = z.infer<typeof actionSchema>;
export type WireEvaluation = z.infer<typeof evaluationSchema>;

const empty: Readonly<Record<string, unknown>> = Object.freeze({});

/** `subject.properties` play the part of verified token claims; `subject.id` is the subject id. */
export function subjectInput(subject: WireEntity): DecisionRequest['subject'] {
  return { claims: subject.properties ?? empty, type: subject.type, id: subject.id };
}

export function actionInput(action: WireAction): DecisionRequest['action'] {
  return { name: action.name, properties: action.properties ?? empty };
}

export function resourceInput(resource: WireEntity): DecisionRequest['resource'] {
  return { type: resource.type, id: resource.id, properties: resource.properties ?? empty };
}

/** Maps one AuthZEN evaluation onto the decision service's request. */
export function decisionRequest(evaluation: WireEvaluation, explain: boolean, meta: DecisionMeta): DecisionRequest {
  return {
    meta,
    subject: subjectInput(evaluation.subject),
    action: actionInput(evaluation.action),
    resource: resourceInput(evaluation.resource),
    context: evaluation.context ?? empty,
    explain,
  };
}

/** `make(wire)`, made once per `wire` object into `made`. */
function once<W extends object, I>(made: Map<W, I>, wire: W, make: (wire: W) => I): I {
  let input = made.get(wire);
  if (input === undefined) {
    input = make(wire);
    made.set(wire, input);
  }
  return input;
}

/**
 * Maps AuthZEN evaluations that may share their subject, action or resource objects (a batch's
 * defaults) onto requests that share those parts too: the decision service then resolves a
 * shared subject once, and the cache keys each shared part once (cache/key.ts), however many
 * requests carry it. Made with `decisionRequest`, each would have parts of its own, a subject or
 * resource of 250 KB serialised again for each of a hundred items.
 */
export function sharingRequests(explain: boolean, meta: DecisionMeta): (evaluation: WireEvaluation) => DecisionRequest {
  const subjects = new Map<WireEntity, DecisionRequest['subject']>();
  const actions = new Map<WireAction, DecisionRequest['action']>();
  const resources = new Map<WireEntity, DecisionRequest['resource']>();
  return (evaluation) => ({
    meta,
    subject: once(subjects, evaluation.subject, subjectInput),
    action: once(actions, evaluation.action, actionInput),
    resource: once(resources, evaluation.resource, resourceInput),
    context: evaluation.context ?? empty,
    explain,
  });
}

/** Most JSON, as `traceBytes` estimates it, the explain traces of one answer carry together. */
export const maxExplainBytes = 16 * 1024 * 1024;

/** An entry's JSON besides its policy, rule, expression and error: keys, booleans, quotes. */
const entryBytes = 160;

/** A trace's JSON length, estimated from its entries' texts without building it. */
function traceBytes(trace: readonly RuleTrace[]): number {
  let bytes = 0;
  for (const entry of trace) {
    bytes += entryBytes + entry.policy.length + entry.rule.length + (entry.condition?.expression.length ?? 0) + (entry.condition?.error?.length ?? 0);
  }
  return bytes;
}

/**
 * The explain traces one answer carries: each is kept while the kept ones stay within
 * `maxExplainBytes`, the first always (a single decision's trace is bounded by the policy
 * set's own size). Once one would go past, it and every later one are left out: a batch of a
 * hundred items over a large set otherwise made an answer longer than a string can be.
 */
export class ExplainBudget {
  #spent = 0;

  keeps(trace: readonly RuleTrace[]): boolean {
    if (this.#spent === Infinity) return false;
    const spent = this.#spent + traceBytes(trace);
    const kept = this.#spent === 0 || spent <= maxExplainBytes;
    this.#spent = kept ? spent : Infinity;
    return kept;
  }
}

/** The `explain` of an item whose trace the answer's `ExplainBudget` left out. */
const explainOmitted = {
  cached: false,
  omitted: {
    code: 'explain_budget_spent',
    message: `the explain traces of this answer reached ${maxExplainBytes / (1024 * 1024)} MiB of JSON: ask for this item alone for its trace`,
  },
};

/**
 * The AuthZEN response `context`: our decision id, policy version, reasons, advice and trace;
 * `advice` and `explain` are left out of the JSON when undefined (none given, not asked for).
 */
function decisionContext(outcome: DecisionOutcome, budget: ExplainBudget | undefined): Record<string, unknown> {
  const trace = outcome.trace;
  return {
    decision_id: outcome.decisionId,
    policy_version: outcome.policyVersion,
    reasons: outcome.reasons,
    advice: outcome.advice.length > 0 ? outcome.advice : undefined,
    explain: trace === undefined ? undefined : budget === undefined || budget.keeps(trace) ? { cached: false, rules: trace } : explainOmitted,
  };
}

/** `{decision}`, with `context` when asked for; its trace, when it has one, within `budget`. */
export function wireDecision(
  outcome: DecisionOutcome,
  withContext: boolean,
  budget?: ExplainBudget,
): { decision: boolean; context?: Record<string, unknown> } {
  const decision = outcome.decision === 'permit';
  return withContext ? { decision, context: decisionContext(outcome, budget) } : { decision };
}
