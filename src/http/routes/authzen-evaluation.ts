import { Hono } from 'hono';
import { z } from 'zod';
import type { DecisionService } from '../../decision/service.js';
import { decisionRequest, evaluationSchema, isPlainEvaluation, wireDecision } from '../authzen/wire.js';
import { isObject } from '../plain-json.js';
import { authzenBody } from '../authzen/body.js';
import { decisionMeta } from '../decision-meta.js';
import type { AppEnv } from '../env.js';
import { jsonWithRequestId } from '../middleware/request-id.js';

/** Our extension: `options.explain` asks for the rule-by-rule trace in the context. */
const explainOptionSchema = z.object({ explain: z.boolean().optional() });

export const evaluationBody = evaluationSchema.extend({ options: explainOptionSchema.optional() });

/** An evaluation body zod would take unchanged: the 4-tuple, and options absent or `{ explain: boolean }` at most. */
export function isPlainEvaluationBody(raw: unknown): raw is z.infer<typeof evaluationBody> {
  if (!isPlainEvaluation(raw)) return false;
  const options = (raw as Record<string, unknown>)['options'];
  if (options === undefined) return true;
  if (!isObject(options)) return false;
  const explain = options['explain'];
  return explain === undefined || typeof explain === 'boolean';
}

/** POST /access/v1/evaluation: one AuthZEN access evaluation, answered `{decision, context}`. */
export function evaluationRoutes(decisions: DecisionService): Hono<AppEnv> {
  return new Hono<AppEnv>().post('/access/v1/evaluation', async (c) => {
    const body = await authzenBody(c, evaluationBody, isPlainEvaluationBody);
    const outcome = await decisions.decide(decisionRequest(body, body.options?.explain === true, decisionMeta(c, 'authzen_evaluation')));
    return jsonWithRequestId(c, wireDecision(outcome, true));
  });
}
