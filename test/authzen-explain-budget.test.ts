import { beforeAll, describe, expect, it } from 'vitest';
import { postJson, readJson } from './helpers/app.js';
import { loadContract } from './helpers/openapi.js';
import { appOverPolicies } from './helpers/policy-app.js';

// Every item of an explained batch carries its whole trace, each entry with its condition's
// text: a hundred items over a large policy set made an answer past V8's longest string, and
// JSON.stringify threw (a 500 after holding the event loop ~24 s). An answer's traces are kept
// within 16 MiB of JSON; the items past it say so instead of carrying theirs.

const rules = 1000;
const literal = 'x'.repeat(4000);
const policy = {
  id: 'big',
  resource: 'doc',
  rules: Array.from({ length: rules }, (_, i) => ({ id: `r${i}`, effect: 'permit', actions: ['read'], condition: `context.a == "${literal}"` })),
};
const traceBytes = rules * literal.length;
const budgetBytes = 16 * 1024 * 1024;
const items = Math.ceil(budgetBytes / traceBytes) + 2;

type App = Awaited<ReturnType<typeof appOverPolicies>>['app'];

describe('explained batch over a large policy set', () => {
  let app: App;
  beforeAll(async () => {
    ({ app } = await appOverPolicies({ 'big.json': policy }));
  });

  it('keeps its traces within the budget, the later items answered with a marker and their decision and reasons', async () => {
    const res = await postJson(app, '/access/v1/evaluations', {
      subject: { type: 'user', id: 'u' },
      action: { name: 'read' },
      context: { a: 'b' },
      options: { explain: true },
      evaluations: Array.from({ length: items }, (_, i) => ({ resource: { type: 'doc', id: `d${i}` } })),
    });
    expect(res.status).toBe(200);
    expect(await (await loadContract()).check('POST', '/access/v1/evaluations', res.clone())).toEqual([]);
    const text = await res.text();
    expect(text.length).toBeLessThan(budgetBytes + 64 * 1024);
    const answers = (JSON.parse(text) as { evaluations: { decision: boolean; context: Record<string, unknown> }[] }).evaluations;
    expect(answers).toHaveLength(items);
    const whole = answers.filter((a) => (a.context['explain'] as { rules?: unknown }).rules !== undefined).length;
    expect(whole).toBeGreaterThanOrEqual(3);
    expect(whole).toBeLessThanOrEqual(Math.floor(budgetBytes / traceBytes));
    for (const [index, answer] of answers.entries()) {
      expect(answer.decision).toBe(false);
      expect(answer.context['reasons']).toEqual([{ code: 'no_applicable_rule', detail: 'no rule permits "read" on "doc"' }]);
      if (index < whole) {
        expect((answer.context['explain'] as { rules: unknown[] }).rules).toHaveLength(rules);
      } else {
        expect(answer.context['explain']).toEqual({
          cached: false,
          omitted: { code: 'explain_budget_spent', message: expect.stringContaining('ask for this item alone') },
        });
      }
    }
  });

  it('explains a batch of one item whole, however large its trace', async () => {
    const res = await postJson(app, '/access/v1/evaluations', {
      subject: { type: 'user', id: 'u' },
      action: { name: 'read' },
      context: { a: 'b' },
      options: { explain: true },
      evaluations: [{ resource: { type: 'doc', id: 'd0' } }],
    });
    expect(res.status).toBe(200);
    const [answer] = (await readJson(res))['evaluations'] as { context: { explain: { rules: unknown[] } } }[];
    expect(answer?.context.explain.rules).toHaveLength(rules);
  });
});
