import { Hono } from 'hono';
import { z } from 'zod';
import { decideBatch, evaluationsSemantics, type BatchItem } from '../../decision/batch.js';
import type { DecisionRequest, DecisionService } from '../../decision/service.js';
import { jsonPath } from '../../policy/json-path.js';
import { actionSchema, decisionRequest, ExplainBudget, entitySchema, evaluationSchema, propertiesSchema, sharingRequests, subjectSchema, wireDecision, type WireEvaluation } from '../authzen/wire.js';
import { authzenBody } from '../authzen/body.js';
import { validBody } from '../body.js';
import { decisionMeta } from '../decision-meta.js';
import type { AppEnv } from '../env.js';
import { jsonWithRequestId } from '../middleware/request-id.js';
import { isObject } from '../plain-json.js';
import type { FieldError } from '../problem.js';

/** Most items one batch may carry; a larger batch is a 400 at `$.evaluations`. */
const maxEvaluations = 100;

/** The top-level defaults and one item share this shape: every key optional. */
const partialTuple = z.object({
  subject: subjectSchema.optional(),
  action: actionSchema.optional(),
  resource: entitySchema.optional(),
  context: propertiesSchema.optional(),
});

const evaluationsOptions = z
  .object({
    evaluations_semantic: z.enum(evaluationsSemantics).optional(),
    include_reasons: z.boolean().optional(),
    explain: z.boolean().optional(),
  })
  .optional();

/** A batch: the top-level defaults, and its items. */
const evaluationsBody = partialTuple.extend({
  evaluations: z.array(z.unknown()).max(maxEvaluations, `at most ${maxEvaluations} evaluations per request`),
  options: evaluationsOptions,
});

/**
 * A request without items (no `evaluations`, or an empty array): one evaluation, whose every
 * fault, a key missing or given wrong, is named at once and worded as `/access/v1/evaluation`
 * words it. Built on its schema rather than by making the defaults required, whose missing key
 * zod words "expected nonoptional".
 */
const singleBody = evaluationSchema.extend({ options: evaluationsOptions });

type Defaults = z.infer<typeof partialTuple>;

/** The keys an item may leave to the batch's defaults. */
const tupleKeys = ['subject', 'action', 'resource', 'context'] as const;

/**
 * One item over the defaults, each key the item gives replacing its default whole; or its errors,
 * with the time finding them took. The item and the defaults it leaves keys to are checked as
 * one evaluation, so every fault is named at once, as `/access/v1/evaluation` names them: a key
 * the item gives wrong and a required one given nowhere (that one with the hint to give it).
 */
function batchItem(raw: unknown, index: number, defaults: Defaults, request: (evaluation: WireEvaluation) => DecisionRequest): BatchItem<FieldError[]> {
  const started = performance.now();
  const located = (issues: readonly z.core.$ZodIssue[], given: (key: PropertyKey | undefined) => boolean) => ({
    invalid: issues.map((issue) => ({
      path: jsonPath(['evaluations', index, ...issue.path]),
      message: given(issue.path[0]) ? issue.message : `${issue.message} (give it in the item or as a top-level default)`,
    })),
    validationMs: performance.now() - started,
  });
  if (!isObject(raw)) return located(partialTuple.safeParse(raw).error?.issues ?? [], () => true);
  // Absent is undefined; JSON has no undefined, so a key the item gives (null included) is its own.
  const merged = Object.fromEntries(tupleKeys.map((key) => [key, raw[key] === undefined ? defaults[key] : raw[key]]));
  const complete = evaluationSchema.safeParse(merged);
  // The defaults were checked with the body: an issue at a key the item leaves out is one given nowhere.
  if (!complete.success) return located(complete.error.issues, (key) => typeof key === 'string' && raw[key] !== undefined);
  // Checked complete; decided on the values themselves, not zod's copies, so every item shares
  // the defaults' objects (one context of a megabyte, not a hundred copies, each walked again
  // by conditions that order maps: cel.ts), and `request` makes each shared one's part once.
  // Nothing is left out: the request takes only the members the schema knows.
  return { request: request(merged as WireEvaluation) };
}

/**
 * POST /access/v1/evaluations: a batch. Top-level subject/action/resource/context are defaults;
 * `options.evaluations_semantic` picks execute_all (default), deny_on_first_deny or
 * permit_on_first_permit. Items answer exactly `{decision}` unless `options.include_reasons`
 * (or `options.explain`) asks for a context. An invalid item is `decision: false`, not a 400.
 * Without items the request is one evaluation and gets a single-decision answer.
 */
export function evaluationsRoutes(decisions: DecisionService): Hono<AppEnv> {
  return new Hono<AppEnv>().post('/access/v1/evaluations', async (c) => {
    const raw = await authzenBody(c, z.unknown());
    const given = isObject(raw) ? raw['evaluations'] : undefined;
    if (given === undefined || (Array.isArray(given) && given.length === 0)) {
      const single = validBody(singleBody, raw);
      const meta = decisionMeta(c, 'authzen_evaluations');
      return jsonWithRequestId(c, wireDecision(await decisions.decide(decisionRequest(single, single.options?.explain === true, meta)), true));
    }
    const body = validBody(evaluationsBody, raw);
    const explain = body.options?.explain === true;
    const meta = decisionMeta(c, 'authzen_evaluations');
    const withContext = explain || body.options?.include_reasons === true;
    const request = sharingRequests(explain, meta);
    const items = body.evaluations.map((item, index) => batchItem(item, index, body, request));
    const answers = await decideBatch(decisions, items, body.options?.evaluations_semantic ?? 'execute_all', meta);
    const budget = new ExplainBudget();
    return jsonWithRequestId(c, {
      evaluations: answers.map((answer) => {
        if ('outcome' in answer) return wireDecision(answer.outcome, withContext, budget);
        if (!withContext) return { decision: false };
        const first = answer.invalid[0];
        return {
          decision: false,
          context: {
            error: {
              status: 400,
              message: first === undefined ? 'invalid evaluation' : `${first.path}: ${first.message}`,
              errors: answer.invalid,
            },
          },
        };
      }),
    });
  });
}
