import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, postJson } from './helpers/app.js';
import { certificationDir } from './helpers/authzen.js';
import { loadContract } from './helpers/openapi.js';

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
    const explained = await post('/access/v1/evaluation', { ...request, options: { explain: true } });
    check('AuthZenDecision', explained);
    // Each rule of the trace is held to ExplainEntry, as /decide's are.
    expect((explained as { context: { explain: { rules: unknown[] } } }).context.explain.rules.length).toBeGreaterThan(0);
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

  it('the evaluations request schema admits a non-object item, which the server answers decision false', async () => {
    const request = { subject: alice, action: { name: 'read' }, evaluations: [null, 'x', 7, [], { resource: { type: 'record', id: 'record-1' } }] };
    check('AuthZenEvaluationsRequest', request);
    const body = await post('/access/v1/evaluations', request);
    check('AuthZenEvaluationsResponse', body);
    expect(body).toEqual({ evaluations: [{ decision: false }, { decision: false }, { decision: false }, { decision: false }, { decision: true }] });
  });

  it('the page request schema admits any non-negative integer limit, as the server does', async () => {
    const query = { subject: { type: 'user' }, action: { name: 'read' }, resource: { type: 'record', id: 'record-1' } };
    for (const limit of [0, 1, 1000, 5000]) {
      check('AuthZenSubjectSearchRequest', { ...query, page: { limit } });
      check('AuthZenEntitySearchResponse', await post('/access/v1/search/subject', { ...query, page: { limit } }));
    }
  });

  it('a body that is not JSON by media type or content coding is a documented 400 on every AuthZEN endpoint', async () => {
    const contract = await loadContract();
    for (const path of ['/access/v1/evaluation', '/access/v1/evaluations', '/access/v1/search/subject', '/access/v1/search/resource', '/access/v1/search/action']) {
      for (const headers of [{ 'content-type': 'text/plain' }, { 'content-type': 'application/json', 'content-encoding': 'gzip' }] as Record<string, string>[]) {
        const res = await app.request(path, { method: 'POST', headers, body: '{}' });
        expect(res.status, path).toBe(400);
        expect(await contract.check('POST', path, res), path).toEqual([]);
      }
    }
  });

  it('searches and metadata', async () => {
    check('AuthZenEntitySearchResponse', await post('/access/v1/search/subject', { subject: { type: 'user' }, action: { name: 'read' }, resource: { type: 'record', id: 'record-1' }, page: { limit: 1 } }));
    check('AuthZenEntitySearchResponse', await post('/access/v1/search/resource', { subject: alice, action: { name: 'read' }, resource: { type: 'record' } }));
    check('AuthZenActionSearchResponse', await post('/access/v1/search/action', { subject: alice, resource: { type: 'record', id: 'record-1' } }));
    check('AuthZenMetadata', await (await app.request('/.well-known/authzen-configuration')).json());
  });
});
