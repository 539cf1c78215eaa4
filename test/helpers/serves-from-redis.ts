import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { CacheSetup } from '../../src/cache/from-config.js';
import { buildTestApp, postJson, readJson } from './app.js';
import { eventually } from './cache.js';

/** Asserts that `setup` reaches its Redis: it comes up, a decision is stored there and a repeat is answered from it. */
export async function servesFromRedis(setup: CacheSetup): Promise<void> {
  await eventually('Redis to be up', () => setup.redisState() === 'up', 10_000);
  const { app } = await buildTestApp({ cache: setup.cache, app: { redisState: setup.redisState } });
  const body = {
    subject: { id: randomUUID(), properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } },
    action: 'read',
    resource: { type: 'invoice', properties: { invoice_type: 'purchase', region: 'EU' } },
  };
  const first = await readJson(await postJson(app, '/decide', body));
  expect(first).toMatchObject({ decision: 'permit' });
  expect(first).not.toHaveProperty('cached');
  await eventually('the decision to be served from Redis', async () => (await readJson(await postJson(app, '/decide', body))).cached === 'redis');
  expect(await readJson(await app.request('/readyz'))).toMatchObject({ redis: 'up' });
}

