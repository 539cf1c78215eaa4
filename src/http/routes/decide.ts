import { Hono } from 'hono';
import type { DecisionService } from '../../decision/service.js';
import { jsonBody } from '../body.js';
import { decideBody, isPlainDecideBody } from '../decide-body.js';
import { decisionMeta } from '../decision-meta.js';
import type { AppEnv } from '../env.js';
import { requireTrustedCaller } from '../middleware/caller-auth.js';
import { ProblemError } from '../problem.js';
import { jsonWithRequestId } from '../middleware/request-id.js';

const empty: Readonly<Record<string, unknown>> = Object.freeze({});

/**
 * `?explain=true|false`, given at most once; anything else is a 400 rather than a silent "false".
 * Repeated, the first value was taken and the others never looked at: `explain=true&explain=yes`
 * passed where `explain=yes` alone is refused.
 */
function explainFlag(values: readonly string[] | undefined): boolean {
  if (values !== undefined && values.length > 1) {
    throw new ProblemError('invalid_request', 'query parameter "explain" must be given once', [{ path: '?explain', message: 'given more than once' }]);
  }
  const value = values?.[0];
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  throw new ProblemError('invalid_request', 'query parameter "explain" must be "true" or "false"', [
    { path: '?explain', message: 'must be "true" or "false"' },
  ]);
}

/**
 * Every value of the query parameter `name` in `url`, in order; undefined when it has none. Most
 * requests carry no query, and cost one search for its "?". The query is read in one pass, as
 * WHATWG URL reads it (`+` a space, percent-encoding decoded): Hono's reader looks for each
 * parameter's "=" up to the query's end, which for a query of a "%" and a million "&" (a target
 * MAX_HEADER_BYTES allows) took 8 s.
 */
function queryValues(url: string, name: string): string[] | undefined {
  if (!url.includes('?')) return undefined;
  const values = new URL(url).searchParams.getAll(name);
  return values.length === 0 ? undefined : values;
}

/** POST /decide: the gateway's question, answered 200 permit or deny. */
export function decideRoutes(decisions: DecisionService): Hono<AppEnv> {
  return new Hono<AppEnv>().post('/decide', async (c) => {
    const explain = explainFlag(queryValues(c.req.url, 'explain'));
    const body = await jsonBody(c, decideBody, isPlainDecideBody);
    if (body.subject !== undefined) requireTrustedCaller(c);
    const outcome = await decisions.decide({
      subject: body.token !== undefined
        ? { token: body.token }
        : { claims: body.subject?.properties ?? empty, id: body.subject?.id ?? '', type: body.subject?.type },
      action: { name: body.action, properties: empty },
      resource: { type: body.resource.type, id: body.resource.id, properties: body.resource.properties ?? empty },
      context: body.context ?? empty,
      explain,
      meta: decisionMeta(c, 'decide'),
    });
    // `cached` and `explain` are left out of the JSON when undefined (not cached, not asked for).
    return jsonWithRequestId(c, {
      decision: outcome.decision,
      reasons: outcome.reasons,
      advice: outcome.advice,
      decisionId: outcome.decisionId,
      policyVersion: outcome.policyVersion,
      cached: outcome.source,
      explain: outcome.trace,
    });
  });
}
