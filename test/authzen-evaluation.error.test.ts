import { beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { interopDir } from './helpers/authzen.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

const valid = {
  subject: { type: 'user', id: 'alice' },
  action: { name: 'view' },
  resource: { type: 'record', id: '101' },
};

describe('POST /access/v1/evaluation, bad input', () => {
  let app: App;
  beforeAll(async () => {
    ({ app } = await buildTestApp({ policyDir: interopDir }));
  });

  const cases: [string, unknown, string][] = [
    ['subject missing', { action: valid.action, resource: valid.resource }, '$.subject'],
    ['action missing', { subject: valid.subject, resource: valid.resource }, '$.action'],
    ['resource missing', { subject: valid.subject, action: valid.action }, '$.resource'],
    ['subject.type missing', { ...valid, subject: { id: 'alice' } }, '$.subject.type'],
    ['subject.id missing', { ...valid, subject: { type: 'user' } }, '$.subject.id'],
    ['action.name missing', { ...valid, action: {} }, '$.action.name'],
    ['action.name a number', { ...valid, action: { name: 123 } }, '$.action.name'],
    ['resource.id missing', { ...valid, resource: { type: 'record' } }, '$.resource.id'],
    ['resource.id a number', { ...valid, resource: { type: 'record', id: 101 } }, '$.resource.id'],
    ['subject a string', { ...valid, subject: 'alice' }, '$.subject'],
    ['properties an array', { ...valid, subject: { ...valid.subject, properties: ['admin'] } }, '$.subject.properties'],
    ['context a string', { ...valid, context: 'now' }, '$.context'],
    ['options.explain a string', { ...valid, options: { explain: 'yes' } }, '$.options.explain'],
  ];

  it.each(cases)('%s → 400 problem+json at %s', async (_name, body, path) => {
    const res = await postJson(app, '/access/v1/evaluation', body, { 'x-request-id': 'bad-1' });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('x-request-id')).toBe('bad-1');
    const problem = await readJson(res);
    expect(problem).toMatchObject({ status: 400, requestId: 'bad-1', instance: '/access/v1/evaluation' });
    expect(problem.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
  });

  it.each([
    ['blank', '   '],
    ['whitespace and invisible characters only', '\u00a0\u200b\t'],
  ])('a name or id that is %s → 400 at its path on every AuthZEN endpoint, as no policy or entity data holds one', async (_, blank) => {
    const message = expect.stringMatching(/^not only whitespace, control or invisible characters: /);
    const searched = { subject: valid.subject, action: valid.action, resource: { type: 'record' } };
    const refused: [endpoint: string, body: object, path: string][] = [
      ['/access/v1/evaluation', { ...valid, resource: { ...valid.resource, id: blank } }, '$.resource.id'],
      ['/access/v1/evaluation', { ...valid, resource: { ...valid.resource, type: blank } }, '$.resource.type'],
      ['/access/v1/evaluation', { ...valid, subject: { ...valid.subject, type: blank } }, '$.subject.type'],
      ['/access/v1/evaluation', { ...valid, action: { name: blank } }, '$.action.name'],
      ['/access/v1/search/resource', { ...searched, resource: { type: blank } }, '$.resource.type'],
      ['/access/v1/search/subject', { ...valid, subject: { type: blank } }, '$.subject.type'],
      ['/access/v1/search/subject', { ...valid, subject: { type: 'user' }, resource: { ...valid.resource, id: blank } }, '$.resource.id'],
      ['/access/v1/search/action', { subject: valid.subject, resource: { ...valid.resource, id: blank } }, '$.resource.id'],
    ];
    for (const [endpoint, body, path] of refused) {
      const res = await postJson(app, endpoint, body);
      expect(res.status, `${endpoint} ${path}`).toBe(400);
      expect(await readJson(res), `${endpoint} ${path}`).toMatchObject({ status: 400, errors: [{ path, message }] });
    }
    // In a batch, that item alone: decision false, saying why.
    const batch = { subject: valid.subject, action: valid.action, evaluations: [{ resource: { ...valid.resource, id: blank } }, { resource: valid.resource }], options: { include_reasons: true } };
    const res = await postJson(app, '/access/v1/evaluations', batch);
    expect(await readJson(res)).toMatchObject({ evaluations: [{ decision: false, context: { error: { status: 400, errors: [{ path: '$.evaluations[0].resource.id', message }] } } }, { decision: expect.any(Boolean) }] });
    // The id of the entity a search looks for is ignored, whatever it holds.
    expect((await postJson(app, '/access/v1/search/resource', { ...searched, resource: { type: 'record', id: blank } })).status).toBe(200);
  });

  it('a key written twice in one object → 400 at the second, on every AuthZEN endpoint', async () => {
    const twice = JSON.stringify(valid).replace('"id":"101"', '"id":"101","id":"102"');
    for (const path of ['/access/v1/evaluation', '/access/v1/search/subject', '/access/v1/search/action']) {
      const res = await postJson(app, path, twice);
      expect(res.status, path).toBe(400);
      expect(await readJson(res)).toMatchObject({ type: 'urn:invoice-pdp:problem:invalid_request', errors: [{ path: '$.resource.id', message: 'duplicate key' }] });
    }
    const batch = JSON.stringify({ evaluations: [{ action: valid.action }] }).replace('"name":"view"', '"name":"view","name":"edit"');
    const res = await postJson(app, '/access/v1/evaluations', batch);
    expect(await readJson(res)).toMatchObject({ status: 400, errors: [{ path: '$.evaluations[0].action.name', message: 'duplicate key' }] });
  });

  it('malformed JSON and an empty body → 400 at $', async () => {
    for (const body of ['{"subject":', '']) {
      const res = await postJson(app, '/access/v1/evaluation', body);
      expect(res.status).toBe(400);
      expect(await readJson(res)).toMatchObject({ errors: [{ path: '$' }] });
    }
  });

  it.each([
    ['text/plain', 'Content-Type', { 'content-type': 'text/plain' }],
    ['form data', 'Content-Type', { 'content-type': 'application/x-www-form-urlencoded' }],
    ['JSON in UTF-16', 'Content-Type', { 'content-type': 'application/json; charset=utf-16' }],
    ['no content type', 'Content-Type', {}],
    ['JSON under a content coding', 'Content-Encoding', { 'content-type': 'application/json', 'content-encoding': 'gzip' }],
  ])('a body not declared as UTF-8 JSON (%s) → 400 invalid_request at path %s, as AuthZEN has no 415', async (_name, header, headers: Record<string, string>) => {
    for (const path of ['/access/v1/evaluation', '/access/v1/evaluations', '/access/v1/search/subject', '/access/v1/search/resource', '/access/v1/search/action']) {
      const res = await app.request(path, { method: 'POST', headers: { ...headers, 'x-request-id': 'ct-1' }, body: JSON.stringify(valid) });
      expect(res.status, path).toBe(400);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.headers.get('connection')).toBe('close');
      expect(await readJson(res)).toMatchObject({ type: 'urn:invoice-pdp:problem:invalid_request', status: 400, instance: path, requestId: 'ct-1', errors: [{ path: header }] });
    }
  });

  it('/decide keeps 415 for the same body', async () => {
    const res = await app.request('/decide', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify(valid) });
    expect(res.status).toBe(415);
    expect(await readJson(res)).toMatchObject({ type: 'urn:invoice-pdp:problem:unsupported_media_type' });
  });

  it('a body over the size limit → 413', async () => {
    const { app: small } = await buildTestApp({ policyDir: interopDir, app: { maxBodyBytes: 2048 } });
    const res = await postJson(small, '/access/v1/evaluation', { ...valid, context: { pad: 'x'.repeat(4096) } });
    expect(res.status).toBe(413);
  });

  it('an "Authorization: undefined" header, as the interop runners send it, changes nothing', async () => {
    const res = await postJson(app, '/access/v1/evaluation', valid, { authorization: 'undefined' });
    expect(res.status).toBe(200);
    expect((await readJson(res)).decision).toBe(true);
  });
});
