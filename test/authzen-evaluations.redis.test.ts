import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { postJson, readJson } from './helpers/app.js';
import { redisReplicas } from './helpers/redis-replicas.js';
import { slowRedis, type SlowRedis } from './helpers/slow-redis.js';

const delayMs = 40;

const accountant = { type: 'user', id: 'u-acc', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } };
const invoice = (id: string, region = 'EU') => ({ type: 'invoice', id, properties: { invoice_type: 'purchase', region } });

describe('AuthZEN batches with a Redis decision cache 40 ms away', () => {
  const { replica } = redisReplicas();
  let proxy: SlowRedis;
  beforeAll(async () => {
    proxy = await slowRedis(inject('redisUrl'), delayMs);
  });
  afterAll(async () => {
    await proxy.close();
  });

  const batch = (semantic: string, regions: readonly string[]) => ({
    subject: accountant,
    action: { name: 'read' },
    options: { evaluations_semantic: semantic },
    evaluations: regions.map((region, i) => ({ resource: invoice(`inv-${String(Date.now())}-${String(i)}`, region) })),
  });

  it.each(['execute_all', 'deny_on_first_deny', 'permit_on_first_permit'])('looks the items of a %s batch up together: one round trip, not one per item', async (semantic) => {
    const { app } = await replica({ REDIS_URL: proxy.url, REDIS_COMMAND_TIMEOUT_MS: '500' });
    // 100 permits: every item is answered but under permit_on_first_permit, which stops at the first.
    const started = performance.now();
    const res = await postJson(app, '/access/v1/evaluations', batch(semantic, Array.from({ length: 100 }, () => 'EU')));
    const tookMs = performance.now() - started;
    expect(res.status).toBe(200);
    const answers = (await readJson(res)).evaluations as { decision: boolean }[];
    expect(answers).toEqual(Array.from({ length: semantic === 'permit_on_first_permit' ? 1 : 100 }, () => ({ decision: true })));
    // One item after the other took 100 round trips, over 4 s (a 503 at the default deadline).
    expect(tookMs).toBeLessThan(1500);
  });

  it('still answers a short-circuit batch up to the item that decides it, and no further', async () => {
    const { app } = await replica({ REDIS_URL: proxy.url, REDIS_COMMAND_TIMEOUT_MS: '500' });
    const regions = Array.from({ length: 100 }, (_, i) => (i === 60 || i === 80 ? 'US' : 'EU'));
    const answers = (await readJson(await postJson(app, '/access/v1/evaluations', batch('deny_on_first_deny', regions)))).evaluations as { decision: boolean }[];
    expect(answers).toHaveLength(61);
    expect(answers.map((a) => a.decision).lastIndexOf(true)).toBe(59);
    expect(answers[60]).toEqual({ decision: false });
  });
});
