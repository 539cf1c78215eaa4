import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { listen, rawPost, type Listening } from './helpers/server.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

const subject = { id: 'u1', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } };
const valid = { subject, action: 'read', resource: { type: 'invoice', id: 'inv-1', properties: { region: 'EU' } } };

async function expectProblem(res: Response, status: number, code: string): Promise<Record<string, unknown>> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  const body = await readJson(res);
  expect(body).toMatchObject({ type: `urn:invoice-pdp:problem:${code}`, status, title: expect.any(String), detail: expect.any(String) });
  expect(body.requestId).toEqual(res.headers.get('x-request-id'));
  expect(body.requestId).toMatch(/\S/);
  return body;
}

describe('POST /decide: bad input is a 4xx problem, never a 500', () => {
  let app: App;
  beforeAll(async () => {
    ({ app } = await buildTestApp());
  });

  it.each([
    ['an empty body', ''],
    ['a body of JSON whitespace', ' \r\n\t'],
  ])('400 malformed_json for %s, saying it is empty, at path $', async (_, body) => {
    const problem = await expectProblem(await postJson(app, '/decide', body), 400, 'malformed_json');
    expect(problem.detail).toBe('body is empty: send the request as a JSON object');
    expect(problem.errors).toEqual([{ path: '$', message: 'empty, not a JSON object' }]);
  });

  it.each([
    ['a truncated object', '{"action": "read",', 'line 1, column 19: the end of the text where a key in double quotes should be'],
    ['a bare word', 'permit', 'line 1, column 1: a bare word where a value should be: JSON\'s words are true, false and null, and its strings are in double quotes'],
    ['trailing garbage', '{"action":"read"} x', 'line 1, column 19: "x" after the end of the JSON value'],
    ['a comma after the last element', '{\n  "action": "read",\n  "resource": {"type": "invoice"},\n}', 'line 4, column 1: a "," before "}": JSON has no comma after the last member'],
  ])('400 malformed_json for %s, at path $, saying where', async (_, body, where) => {
    const problem = await expectProblem(await postJson(app, '/decide', body), 400, 'malformed_json');
    expect(problem.detail).toBe(`body is not valid JSON at ${where}`);
    expect(problem.errors).toEqual([{ path: '$', message: 'not valid JSON' }]);
  });

  const validText = JSON.stringify(valid);
  it.each([
    ['the action', validText.replace('"action":"read"', '"action":"read","action":"delete"'), '$.action'],
    ['a resource property, pretty-printed', JSON.stringify(valid, null, 2).replace('"region": "EU"\n    }\n  }\n}', '"region": "EU",\n      "region": "US"\n    }\n  }\n}'), '$.resource.properties.region'],
    ['a key once as written and once escaped', validText.replace('"action":"read"', '"action":"read","\\u0061ction":"read"'), '$.action'],
    ['a key with whitespace before its colon', validText.replace('"action":"read"', '"action" :"read","action"\t: "read"'), '$.action'],
    ['a key with whitespace before its colon, beside a string holding `":`', validText.replace('"action":"read"', '"action" :"read","action" :"read","note":"\\":"'), '$.action'],
    ['a key with a carriage return before its colon', validText.replace('"action":"read"', '"action":"read","action"\r:"read"'), '$.action'],
    ['the action, then a resource property,', validText.replace('"action":"read"', '"action":"read","action":"read"').replace('"region":"EU"}}}', '"region":"EU","region":"US"}}}'), '$.action'],
    ['a key in an object in an array', validText.replace('"region":"EU"}}}', '"region":"EU","lines":[{"n":1},{"n":2,"n":3}]}}}'), '$.resource.properties.lines[1].n'],
  ])('400 invalid_request for %s written twice in one object, naming the second', async (_, body, path) => {
    expect(() => JSON.parse(body) as unknown).not.toThrow();
    const problem = await expectProblem(await postJson(app, '/decide', body), 400, 'invalid_request');
    expect(problem.detail).toBe(`${path}: duplicate key: send each key once in an object`);
    expect(problem.errors).toEqual([{ path, message: 'duplicate key' }]);
  });

  it.each([
    ['one key in two objects', validText.replace('"region":"EU"}}}', '"region":"EU","lines":[{"region":"EU"},{"region":"US"}]}}}')],
    ['strings holding key-like text', validText.replace('"region":"EU"}}}', '"region":"EU","note":"\\"region\\":\\"US\\" \\" :","a\\":":1}}}')],
  ])('answers a body with %s, which writes no key twice in one object', async (_, body) => {
    const res = await postJson(app, '/decide', body);
    expect(res.status).toBe(200);
    expect(await readJson(res)).toMatchObject({ decision: 'permit' });
  });

  it('refuses a body exactly when it writes a key twice in one object, however it is spaced or what its strings hold', async () => {
    /** `value` as JSON text, each key spaced from its colon by the next of `gaps`, with the first member of the `repeat.at`-th non-empty object written twice. */
    const write = (value: unknown, gaps: readonly string[], repeat: { at: number; done: boolean; gap: number }): string => {
      if (Array.isArray(value)) return `[${value.map((item) => write(item, gaps, repeat)).join(', ')}]`;
      if (typeof value !== 'object' || value === null) return JSON.stringify(value);
      const members = Object.entries(value).map(([key, item]) => `${JSON.stringify(key)}${gaps[repeat.gap++ % gaps.length] ?? ''}: ${write(item, gaps, repeat)}`);
      if (members.length > 0 && repeat.at-- === 0) {
        members.push(members[0] as string);
        repeat.done = true;
      }
      return `{${members.join(',\n')}}`;
    };
    const keyLike = fc.constantFrom('a', 'b', '"a":', 'a" :', ':', '"', '\\":');
    const properties = fc.dictionary(fc.oneof(keyLike, fc.string({ maxLength: 3 })), fc.oneof(keyLike, fc.jsonValue({ maxDepth: 2 })), { maxKeys: 4 });
    await fc.assert(
      fc.asyncProperty(properties, fc.array(fc.constantFrom('', '', ' ', '\n  ', '\t'), { minLength: 1, maxLength: 4 }), fc.nat(8), async (props, gaps, at) => {
        const repeat = { at, done: false, gap: 0 };
        const body = write({ ...valid, resource: { ...valid.resource, properties: { ...valid.resource.properties, ...props } } }, gaps, repeat);
        const res = await postJson(app, '/decide', body);
        const answer = await readJson(res);
        if (repeat.done) expect(answer).toMatchObject({ status: 400, errors: [{ message: 'duplicate key' }] });
        else expect(res.status, JSON.stringify(answer)).toBe(200);
      }),
      { numRuns: 300 },
    );
  });

  it.each([
    ['a missing action', { ...valid, action: undefined }, ['$.action']],
    ['a missing resource', { ...valid, resource: undefined }, ['$.resource']],
    ['a missing resource type', { ...valid, resource: { id: 'x' } }, ['$.resource.type']],
    ['an empty action', { ...valid, action: '' }, ['$.action']],
    ['a numeric action', { ...valid, action: 7 }, ['$.action']],
    ['an action object', { ...valid, action: { name: 'read' } }, ['$.action']],
    ['resource properties as a string', { ...valid, resource: { type: 'invoice', properties: 'EU' } }, ['$.resource.properties']],
    ['context as an array', { ...valid, context: [true] }, ['$.context']],
    ['a numeric subject id', { ...valid, subject: { id: 7 } }, ['$.subject.id']],
    // Empty names are refused by the schema alone: the hand-written check for plain bodies hands them on to it.
    ['an empty subject id', { ...valid, subject: { id: '' } }, ['$.subject.id']],
    ['an empty subject type', { ...valid, subject: { ...subject, type: '' } }, ['$.subject.type']],
    ['an empty resource type', { ...valid, resource: { type: '', id: 'inv-1' } }, ['$.resource.type']],
    ['subject properties as null', { ...valid, subject: { id: 'u1', properties: null } }, ['$.subject.properties']],
    ['a numeric token', { ...valid, subject: undefined, token: 42 }, ['$.token']],
    ['an empty token', { ...valid, subject: undefined, token: '' }, ['$.token']],
    ['several wrong fields at once', { action: 1, resource: { type: 2 }, subject }, ['$.action', '$.resource.type']],
  ])('400 invalid_request for %s, naming the path', async (_, body, paths) => {
    const problem = await expectProblem(await postJson(app, '/decide', body), 400, 'invalid_request');
    expect((problem.errors as { path: string }[]).map((e) => e.path)).toEqual(paths);
    expect(problem.detail).toContain(paths[0]);
  });

  it.each([
    ['resource.id', { ...valid, resource: { ...valid.resource, id: ' \u200b' } }],
    ['resource.id', { ...valid, resource: { ...valid.resource, id: '' } }],
    ['resource.type', { ...valid, resource: { ...valid.resource, type: '\t ' } }],
    ['subject.type', { ...valid, subject: { ...subject, type: '\u00a0' } }],
    ['action', { ...valid, action: ' ' }],
  ])('400 invalid_request at $.%s for one empty or made only of whitespace, control or invisible characters: it names nothing a policy or entity data holds', async (field, body) => {
    const problem = await expectProblem(await postJson(app, '/decide', body), 400, 'invalid_request');
    expect(problem.errors).toEqual([{ path: `$.${field}`, message: expect.any(String) }]);
  });

  it.each([
    ['action', 256, (text: string) => ({ ...valid, action: text })],
    ['subject.type', 256, (text: string) => ({ ...valid, subject: { ...subject, type: text } })],
    ['resource.type', 256, (text: string) => ({ ...valid, resource: { ...valid.resource, type: text } })],
    ['subject.id', 1024, (text: string) => ({ ...valid, subject: { ...subject, id: text } })],
    ['resource.id', 1024, (text: string) => ({ ...valid, resource: { ...valid.resource, id: text } })],
  ])('$.%s is decided at %i code points and refused one past, naming the path', async (field, limit, body) => {
    // Code points, not UTF-16 units: an emoji is one, though two units long.
    for (const text of ['x'.repeat(limit), '\u{1F600}'.repeat(limit)]) {
      const res = await postJson(app, '/decide', body(text));
      expect(res.status, `${field} of ${text.length} units`).toBe(200);
    }
    for (const text of ['x'.repeat(limit + 1), '\u{1F600}'.repeat(limit + 1)]) {
      const problem = await expectProblem(await postJson(app, '/decide', body(text)), 400, 'invalid_request');
      expect(problem.errors).toEqual([{ path: `$.${field}`, message: expect.any(String) }]);
    }
  });

  it.each([
    ['an array', [valid]],
    ['null', null],
    ['a string', '"read"'],
    ['a number', '42'],
  ])('400 invalid_request for a body that is %s, at path $', async (_, body) => {
    const problem = await expectProblem(await postJson(app, '/decide', body === null ? 'null' : body), 400, 'invalid_request');
    expect(problem.errors).toEqual([{ path: '$', message: expect.any(String) }]);
  });

  it('400 when both token and subject are given, pointing at subject', async () => {
    const problem = await expectProblem(await postJson(app, '/decide', { ...valid, token: 'abc' }), 400, 'invalid_request');
    expect(problem.errors).toEqual([{ path: '$.subject', message: 'give exactly one of "token" or "subject"' }]);
  });

  it('400 when neither token nor subject is given, pointing at token', async () => {
    const problem = await expectProblem(await postJson(app, '/decide', { ...valid, subject: undefined }), 400, 'invalid_request');
    expect(problem.errors).toEqual([{ path: '$.token', message: 'give exactly one of "token" or "subject"' }]);
  });

  it.each([
    ['text/plain', 'text/plain'],
    ['form data', 'application/x-www-form-urlencoded'],
    ['a json look-alike', 'application/jsonp'],
    ['xml', 'application/xml'],
    ['JSON declared in another charset', 'application/json; charset=iso-8859-1'],
    ['JSON declared in UTF-16, quoted', 'application/json; charset="UTF-16"'],
  ])('415 for %s', async (_, type) => {
    const res = await app.request('/decide', { method: 'POST', headers: { 'content-type': type }, body: JSON.stringify(valid) });
    const problem = await expectProblem(res, 415, 'unsupported_media_type');
    expect(problem.errors).toEqual([{ path: 'Content-Type', message: expect.any(String) }]);
  });

  it('415 for a body with a content coding, which it would read as the JSON it is not; none or identity is read', async () => {
    for (const coding of ['gzip', 'br', 'deflate, gzip']) {
      // Plain JSON under a coding: before, decided as if uncoded.
      const res = await app.request('/decide', { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': coding }, body: JSON.stringify(valid) });
      const problem = await expectProblem(res, 415, 'unsupported_media_type');
      expect(problem.errors).toEqual([{ path: 'Content-Encoding', message: expect.any(String) }]);
      expect(res.headers.get('accept-encoding')).toBe('identity');
    }
    const plain = await app.request('/decide', { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'Identity' }, body: JSON.stringify(valid) });
    expect(plain.status).toBe(200);
  });

  it('400 for "*" as the action asked about, on /decide and AuthZEN: it would skip every action\'s deny rules', async () => {
    // An admin-scoped caller: P1 permits any action, D2 denies updating a paid invoice.
    const admin = { id: 'root', properties: { scope: 'invoice.admin' } };
    const paid = { type: 'invoice', id: 'inv-9', properties: { status: 'paid', region: 'EU' } };
    expect((await readJson(await postJson(app, '/decide', { subject: admin, action: 'update', resource: paid }))).decision).toBe('deny');
    const body = await expectProblem(await postJson(app, '/decide', { subject: admin, action: '*', resource: paid }), 400, 'invalid_request');
    expect(body['errors']).toEqual([expect.objectContaining({ path: '$.action' })]);
    const evaluation = { subject: { type: 'user', ...admin }, action: { name: '*' }, resource: paid };
    const problem = await expectProblem(await postJson(app, '/access/v1/evaluation', evaluation), 400, 'invalid_request');
    expect(problem['errors']).toEqual([expect.objectContaining({ path: '$.action.name' })]);
  });

  it('415 without a content type', async () => {
    const req = new Request('http://pdp.test/decide', { method: 'POST', body: new TextEncoder().encode(JSON.stringify(valid)) });
    expect(req.headers.get('content-type')).toBeNull();
    await expectProblem(await app.request(req), 415, 'unsupported_media_type');
  });

  it.each([
    ['a charset parameter', 'application/json; charset=utf-8'],
    ['a quoted upper-case UTF-8 charset', 'application/json;charset="UTF-8"'],
    ['upper case', 'Application/JSON'],
    ['a +json suffix', 'application/vnd.api+json'],
  ])('accepts JSON with %s', async (_, type) => {
    const res = await app.request('/decide', { method: 'POST', headers: { 'content-type': type }, body: JSON.stringify(valid) });
    expect(res.status).toBe(200);
    expect((await readJson(res)).decision).toBe('permit');
  });

  it('404 problem for an unknown route, with the path and request id', async () => {
    const res = await app.request('/decisions', { headers: { 'x-request-id': 'req-404' } });
    const problem = await expectProblem(res, 404, 'not_found');
    expect(problem).toMatchObject({ instance: '/decisions', requestId: 'req-404', detail: 'no route for GET /decisions' });
  });

  it('404 names a long path in its detail by its first 64 characters and its length, once in full as instance', async () => {
    const path = `/${'a'.repeat(9_999)}`;
    const problem = await expectProblem(await app.request(path), 404, 'not_found');
    expect(problem).toMatchObject({ instance: path, detail: `no route for GET ${path.slice(0, 64)}… (10000 characters)` });
  });

  it.each([
    ['a space', '/dec%20ide'],
    ['a character beyond ASCII', '/%E2%82%AC'],
    ['an encoded letter', '/d%65cide'],
  ])('gives as instance the path as sent, a URI reference, for one with %s percent-encoded', async (_, path) => {
    const res = await app.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...valid, action: '' }) });
    const problem = await readJson(res);
    expect(res.status).toBeGreaterThanOrEqual(400);
    // RFC 9457 §3.1.5: `instance` is a URI reference; `/dec ide` and `/€` are not.
    expect(problem.instance).toBe(path);
  });

  it.each([
    ['a query', '/decide?explain=yes', '/decide'],
    ['a query holding a slash and a fragment', '/decide?explain=a/b#c', '/decide'],
    ['a query on an unknown path', '/dec%20ide?x=1', '/dec%20ide'],
  ])('gives as instance the path alone for a target with %s', async (_, target, path) => {
    const res = await app.request(`http://localhost${target}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(valid) });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect((await readJson(res)).instance).toBe(path);
  });

  it.each([
    ['GET', '/decide'],
    ['PUT', '/decide'],
    ['DELETE', '/decide'],
    ['PATCH', '/decide'],
    ['POST', '/healthz'],
    ['DELETE', '/readyz'],
    ['OPTIONS', '/access/v1/evaluation'],
  ])('%s %s (a wrong method) is a 405 problem saying which methods the path takes', async (method, path) => {
    const res = await app.request(path, { method, headers: { 'content-type': 'application/json', 'x-request-id': 'req-405' }, ...(method !== 'GET' && { body: '{}' }) });
    const problem = await expectProblem(res, 405, 'method_not_allowed');
    const allow = path.startsWith('/decide') || path.startsWith('/access') ? 'POST' : 'GET, HEAD';
    // Before, a 404 "no route" for a path that exists.
    expect(res.headers.get('allow')).toBe(allow);
    expect(problem).toMatchObject({ instance: path, requestId: 'req-405', detail: `${path} takes ${allow}, not ${method}` });
  });

  it('HEAD and OPTIONS never 500: HEAD is GET without a body, and a POST path refuses both with 405 and Allow: POST', async () => {
    const health = await app.request('/healthz', { method: 'HEAD' });
    expect(health.status).toBe(200);
    expect(await health.text()).toBe('');
    const head = await app.request('/decide', { method: 'HEAD' });
    expect(head.status).toBe(405);
    expect(head.headers.get('allow')).toBe('POST');
    expect(await head.text()).toBe('');
    const options = await app.request('/decide', { method: 'OPTIONS' });
    expect(await expectProblem(options, 405, 'method_not_allowed')).toMatchObject({ instance: '/decide', detail: '/decide takes POST, not OPTIONS' });
    expect(options.headers.get('allow')).toBe('POST');
  });
});

describe('POST /decide over a socket: the body limit', () => {
  const limit = 4096;
  let server: Listening;
  beforeAll(async () => {
    const { app } = await buildTestApp({ app: { maxBodyBytes: limit } });
    server = await listen(app);
  });
  afterAll(async () => {
    await server.close();
  });

  const padded = (size: number) => {
    const body = JSON.stringify({ ...valid, context: { pad: '' } });
    return JSON.stringify({ ...valid, context: { pad: 'x'.repeat(size - body.length) } });
  };

  it('413 problem for a body over the limit sent with content-length', async () => {
    const res = await fetch(`${server.url}/decide`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: padded(limit + 1) });
    const problem = await expectProblem(res, 413, 'payload_too_large');
    expect(problem.detail).toBe(`body larger than ${limit} bytes`);
    expect(problem.errors).toEqual([{ path: '$', message: `larger than ${limit} bytes (MAX_BODY_BYTES)` }]);
  });

  it('413 problem for a chunked body over the limit (no content-length)', async () => {
    const body = padded(limit * 3);
    const chunks = [body.slice(0, 1000), body.slice(1000, 5000), body.slice(5000)];
    const res = await rawPost(`${server.url}/decide`, chunks, { 'content-type': 'application/json' });
    expect(res.status).toBe(413);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.headers['transfer-encoding']).toBeUndefined();
    expect(JSON.parse(res.body)).toMatchObject({ status: 413, requestId: res.headers['x-request-id'] });
  });

  it('accepts a body of exactly the limit, chunked or not', async () => {
    const body = padded(limit);
    expect(Buffer.byteLength(body)).toBe(limit);
    const sized = await fetch(`${server.url}/decide`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(sized.status).toBe(200);
    const chunked = await rawPost(`${server.url}/decide`, [body.slice(0, 100), body.slice(100)], { 'content-type': 'application/json' });
    expect(chunked.status).toBe(200);
    expect(JSON.parse(chunked.body)).toMatchObject({ decision: 'permit' });
  });

  it('counts bytes, not characters', async () => {
    const body = JSON.stringify({ ...valid, context: { pad: 'é'.repeat(limit / 2) } });
    const res = await fetch(`${server.url}/decide`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(res.status).toBe(413);
  });

  it('a malformed chunked body is a 400, not a 500', async () => {
    const res = await rawPost(`${server.url}/decide`, ['{"action":', '"read"'], { 'content-type': 'application/json' });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ type: 'urn:invoice-pdp:problem:malformed_json' });
  });
});
