import { expect } from 'vitest';

/**
 * Readers of each endpoint's 200 answer: each fails the test unless the body has exactly the
 * endpoint's shape, and returns what the answer says (a decision, decisions, hits).
 */

type Body = Readonly<Record<string, unknown>>;

function keysWithin(body: Body, allowed: readonly string[]): void {
  expect(Object.keys(body).filter((key) => !allowed.includes(key)), JSON.stringify(body)).toEqual([]);
}

/** POST /decide: permit or deny, with reasons, advice, a decision id and the policy version. */
export function decideAnswer(body: Body): 'permit' | 'deny' {
  keysWithin(body, ['decision', 'reasons', 'advice', 'decisionId', 'policyVersion', 'cached', 'explain']);
  expect(body).toMatchObject({ reasons: expect.any(Array), advice: expect.any(Array), decisionId: expect.any(String), policyVersion: expect.any(String) });
  expect(['permit', 'deny']).toContain(body['decision']);
  return body['decision'] as 'permit' | 'deny';
}

/** An AuthZEN decision: `{decision: boolean, context?}`, the context naming the decision or an item's error. */
export function authzenDecision(body: Body): boolean {
  keysWithin(body, ['decision', 'context']);
  expect(typeof body['decision'], JSON.stringify(body)).toBe('boolean');
  const context = body['context'] as Body | undefined;
  if (context !== undefined) {
    if ('error' in context) {
      expect(body['decision']).toBe(false);
      expect(context['error']).toMatchObject({ status: 400, message: expect.any(String), errors: expect.arrayContaining([expect.objectContaining({ path: expect.stringMatching(/^\$/) })]) });
    } else {
      expect(context).toMatchObject({ decision_id: expect.any(String), policy_version: expect.any(String), reasons: expect.any(Array) });
    }
  }
  return body['decision'] as boolean;
}

/** POST /access/v1/evaluations: `{evaluations: [{decision}, …]}`, or one decision for a body without items. */
export function evaluationsAnswer(body: Body): boolean | boolean[] {
  if (!('evaluations' in body)) return authzenDecision(body);
  keysWithin(body, ['evaluations']);
  expect(Array.isArray(body['evaluations'])).toBe(true);
  return (body['evaluations'] as Body[]).map(authzenDecision);
}

function searchPage(body: Body): unknown[] {
  keysWithin(body, ['results', 'page']);
  expect(Array.isArray(body['results'])).toBe(true);
  const results = body['results'] as unknown[];
  expect(body['page']).toEqual({ next_token: expect.any(String), count: results.length });
  return results;
}

/** POST /access/v1/search/{subject,resource}: `{results: [{type, id}], page: {next_token, count}}`. */
export function entitySearchAnswer(body: Body): { type: string; id: string }[] {
  const results = searchPage(body);
  for (const hit of results) expect(hit).toEqual({ type: expect.any(String), id: expect.any(String) });
  return results as { type: string; id: string }[];
}

/** POST /access/v1/search/action: `{results: [{name}], page: {next_token, count}}`. */
export function actionSearchAnswer(body: Body): string[] {
  const results = searchPage(body);
  for (const hit of results) expect(hit).toEqual({ name: expect.any(String) });
  return results.map((hit) => (hit as { name: string }).name);
}

/** GET /.well-known/authzen-configuration: every endpoint's URL under the PDP's own. */
export function metadataAnswer(body: Body): void {
  const base = body['policy_decision_point'];
  expect(typeof base).toBe('string');
  expect(body).toEqual({
    policy_decision_point: base,
    access_evaluation_endpoint: `${String(base)}/access/v1/evaluation`,
    access_evaluations_endpoint: `${String(base)}/access/v1/evaluations`,
    search_subject_endpoint: `${String(base)}/access/v1/search/subject`,
    search_resource_endpoint: `${String(base)}/access/v1/search/resource`,
    search_action_endpoint: `${String(base)}/access/v1/search/action`,
  });
}

/** GET /healthz. */
export function healthAnswer(body: Body): void {
  expect(body).toEqual({ status: 'ok' });
}

const isoTime = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** GET /readyz: the policy set serving, Redis and key sets. */
export function readinessAnswer(body: Body): void {
  expect(body).toEqual({
    status: 'ready',
    policies: { version: expect.any(String), rules: expect.any(Number), loadedAt: expect.stringMatching(isoTime) },
    redis: expect.stringMatching(/^(up|down|disabled)$/),
    keySets: expect.any(Array),
  });
}

/** GET /admin/policies: the set serving, its policies, and the last rejected reload. */
export function policyListingAnswer(body: Body): string {
  expect(body).toEqual({
    version: expect.any(String),
    loadedAt: expect.stringMatching(isoTime),
    rules: expect.any(Number),
    policies: expect.arrayContaining([expect.objectContaining({ id: expect.any(String), resource: expect.any(String), rules: expect.any(Array) })]),
    lastReloadError: null,
  });
  return body['version'] as string;
}

/** POST /admin/policies/reload: the set now serving. */
export function reloadAnswer(body: Body): { version: string; changed: boolean } {
  expect(body).toEqual({
    version: expect.any(String),
    previousVersion: expect.any(String),
    changed: expect.any(Boolean),
    rules: expect.any(Number),
    loadedAt: expect.stringMatching(isoTime),
  });
  return { version: body['version'] as string, changed: body['changed'] as boolean };
}

/** GET /metrics: the Prometheus text format with the service's own metrics. */
export function metricsAnswer(text: string): void {
  expect(text).toMatch(/^# TYPE pdp_decisions_total counter$/m);
  expect(text).toMatch(/^# TYPE http_requests_total counter$/m);
  for (const line of text.split('\n')) {
    if (line !== '' && !line.startsWith('#')) expect(line).toMatch(/^[a-zA-Z_:][\w:]*(\{.*\})? \S+$/);
  }
}
