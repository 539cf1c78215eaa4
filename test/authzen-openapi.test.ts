import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, postJson } from './helpers/app.js';
import { certificationDir } from './helpers/authzen.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

describe('AuthZEN responses match openapi.yaml', () => {
  let app: App;
  let check: (schema: string, value: unknown) => void;
  beforeAll(async () => {
    ({ app } = await buildTestApp({ policyDir: certificationDir }));
    const spec = parse(await readFile(resolve(import.meta.dirname, '../openapi.yaml'), 'utf8')) as Record<string, unknown>;
    // The document holds OpenAPI keys beside its schemas, hence strict mode off.
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    ajv.addSchema({ ...spec, $id: 'openapi.yaml' });
    check = (schema, value) => {
      const validate = ajv.compile({ $ref: `openapi.yaml#/components/schemas/${schema}` });
      expect(validate(value), JSON.stringify(validate.errors)).toBe(true);
    };
  });

  const post = async (path: string, body: unknown) => (await postJson(app, path, body)).json() as Promise<unknown>;
  const alice = { type: 'user', id: 'alice' };

  it('evaluation, with and without explain', async () => {
    const request = { subject: alice, action: { name: 'read' }, resource: { type: 'record', id: 'record-1' } };
    check('AuthZenDecision', await post('/access/v1/evaluation', request));
    check('AuthZenDecision', await post('/access/v1/evaluation', { ...request, options: { explain: true } }));
  });

  it('evaluations, with reasons and an invalid item', async () => {
    const body = await post('/access/v1/evaluations', {
      subject: alice,
      action: { name: 'read' },
      options: { include_reasons: true },
      evaluations: [{ resource: { type: 'record', id: 'record-1' } }, {}],
    });
    check('AuthZenEvaluationsResponse', body);
  });

  it('searches and metadata', async () => {
    check('AuthZenEntitySearchResponse', await post('/access/v1/search/subject', { subject: { type: 'user' }, action: { name: 'read' }, resource: { type: 'record', id: 'record-1' }, page: { limit: 1 } }));
    check('AuthZenEntitySearchResponse', await post('/access/v1/search/resource', { subject: alice, action: { name: 'read' }, resource: { type: 'record' } }));
    check('AuthZenActionSearchResponse', await post('/access/v1/search/action', { subject: alice, resource: { type: 'record', id: 'record-1' } }));
    check('AuthZenMetadata', await (await app.request('/.well-known/authzen-configuration')).json());
  });
});
