import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CacheSetup } from '../src/cache/from-config.js';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { cacheFromEnv, eventually, uniquePrefix } from './helpers/cache.js';

describe('openapi.yaml describes the cache fields', () => {
  const ajv = new Ajv2020({ strict: false, validateFormats: false });
  let setup: CacheSetup;
  let app: Awaited<ReturnType<typeof buildTestApp>>['app'];

  beforeAll(async () => {
    const document = parse(await readFile(resolve(import.meta.dirname, '../openapi.yaml'), 'utf8')) as object;
    ajv.addSchema(document, 'openapi');
    setup = await cacheFromEnv({ CACHE_MEMORY_ENTRIES: '100', REDIS_URL: inject('redisUrl'), CACHE_PREFIX: uniquePrefix(), REDIS_COMMAND_TIMEOUT_MS: '1000' });
    await eventually('Redis to be up', () => setup.redisState() === 'up');
    ({ app } = await buildTestApp({ cache: setup.cache, app: { redisState: setup.redisState } }));
  });
  afterAll(async () => {
    await setup.close();
  });

  function check(schema: string, body: unknown): void {
    const validate = ajv.getSchema(`openapi#/components/schemas/${schema}`);
    if (validate === undefined) throw new Error(`no schema ${schema}`);
    expect(validate(body), JSON.stringify(validate.errors)).toBe(true);
  }

  it('a cached decision and its "cached" field match the Decision schema', async () => {
    const body = {
      subject: { id: randomUUID(), properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } },
      action: 'read',
      resource: { type: 'invoice', properties: { invoice_type: 'purchase', region: 'EU' } },
    };
    await postJson(app, '/decide', body);
    const cached = await readJson(await postJson(app, '/decide', body));
    expect(cached.cached).toBe('memory');
    check('Decision', cached);
    check('Decision', { ...cached, cached: 'redis' });
    expect(() => check('Decision', { ...cached, cached: 'disk' })).toThrow();
  });

  it('/readyz with its Redis state matches the Readiness schema', async () => {
    const ready = await readJson(await app.request('/readyz'));
    expect(ready.redis).toBe('up');
    check('Readiness', ready);
    check('Readiness', { ...ready, redis: 'read_only' });
    check('Readiness', { ...ready, redis: 'down' });
    check('Readiness', { ...ready, redis: 'disabled' });
  });
});
