import { beforeAll, describe, expect, it } from 'vitest';
import { postJson, readJson, type buildTestApp } from './helpers/app.js';
import { appOverPolicies } from './helpers/policy-app.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

// CEL types a list or map literal whose elements differ in type as list(dyn) or map(dyn, dyn):
// cel-go takes `[subject.properties.region, "GLOBAL"]` and `[1, 2.0]` unless an application asks
// for homogeneous literals, and even then a value of the request (dyn) beside a string.

const rule = (id: string, condition: string) => ({ id, effect: 'permit', actions: [id], condition });
const subject = { id: 'u-1', properties: { region: 'EU' } };

describe('POST /decide: list and map literals mixing a value of the request with a literal', () => {
  let app: App;
  beforeAll(async () => {
    ({ app } = await appOverPolicies({
      'invoices.json': {
        id: 'invoices',
        resource: 'invoice',
        rules: [
          rule('region-or-global', 'resource.properties.region in [subject.properties.region, "GLOBAL"]'),
          rule('global-or-region', 'resource.properties.region in ["GLOBAL", subject.properties.region]'),
          rule('id-or-delegate', 'resource.properties.owner in [subject.id, context.delegate]'),
          rule('mixed-numbers', 'resource.properties.level in [1, 2.0]'),
          rule('mixed-keys', '{context.key: 1.0, "b": 2.0}[resource.properties.key] == 1.0'),
        ],
      },
    }));
  });

  const decide = async (action: string, properties: Record<string, unknown>, context: Record<string, unknown> = {}) => {
    const res = await postJson(app, '/decide', { subject, action, resource: { type: 'invoice', properties }, context });
    expect(res.status).toBe(200);
    return readJson(res);
  };

  it('loads them, and answers as CEL does', async () => {
    expect((await decide('region-or-global', { region: 'EU' }))['decision']).toBe('permit');
    expect((await decide('region-or-global', { region: 'GLOBAL' }))['decision']).toBe('permit');
    expect((await decide('region-or-global', { region: 'US' }))['decision']).toBe('deny');
    expect((await decide('global-or-region', { region: 'EU' }))['decision']).toBe('permit');
    expect((await decide('global-or-region', { region: 'US' }))['decision']).toBe('deny');
    expect((await decide('id-or-delegate', { owner: 'u-2' }, { delegate: 'u-2' }))['decision']).toBe('permit');
    expect((await decide('id-or-delegate', { owner: 'u-3' }, { delegate: 'u-2' }))['decision']).toBe('deny');
    expect((await decide('mixed-numbers', { level: 2 }))['decision']).toBe('permit');
    expect((await decide('mixed-numbers', { level: 3 }))['decision']).toBe('deny');
    expect((await decide('mixed-keys', { key: 'a' }, { key: 'a' }))['decision']).toBe('permit');
    expect((await decide('mixed-keys', { key: 'b' }, { key: 'a' }))['decision']).toBe('deny');
  });

  it('a region that is not a string matches no element of another type', async () => {
    const answer = await decide('region-or-global', { region: ['EU'] });
    expect(answer['decision']).toBe('deny');
  });
});
