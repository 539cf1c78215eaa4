import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLimits } from '../src/json-limits.js';
import { expectWellFormed, readAnswer, type Answer } from './helpers/answers.js';
import { buildTestApp } from './helpers/app.js';
import {
  depthsAroundLimit,
  hostileJson,
  invoiceDecideBody,
  mangledDecideBody,
  nestedText,
  rawNumberDecideText,
  sizesAroundLimit,
} from './oracle/arbitraries.js';
import { expectedDecision, questionFromBody, type InvoiceQuestion } from './oracle/invoice-rules.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

/**
 * Every endpoint, as fuzzing sees it. A JSON endpoint names a generator of valid bodies,
 * how to read a permit from its answer, and how to read the question from a body (for the
 * oracle). A new endpoint is one more entry here.
 */
interface JsonEndpoint {
  readonly kind: 'json';
  readonly path: string;
  readonly validBody: fc.Arbitrary<Record<string, unknown>>;
  readonly isPermit: (answer: Answer) => boolean;
  readonly question: (body: unknown) => InvoiceQuestion | undefined;
}

interface GetEndpoint {
  readonly kind: 'get';
  readonly path: string;
}

const endpoints: readonly (JsonEndpoint | GetEndpoint)[] = [
  { kind: 'json', path: '/decide', validBody: invoiceDecideBody, isPermit: (a) => a.body['decision'] === 'permit', question: questionFromBody },
  { kind: 'get', path: '/healthz' },
  { kind: 'get', path: '/readyz' },
];

const jsonEndpoints = endpoints.filter((e): e is JsonEndpoint => e.kind === 'json');
const getEndpoints = endpoints.filter((e): e is GetEndpoint => e.kind === 'get');

const runs = { numRuns: 200 };

function post(app: App, path: string, body: string | Uint8Array, contentType = 'application/json') {
  return app.request(path, { method: 'POST', headers: { 'content-type': contentType }, body });
}

/** Checks the answer's form, and that a permit is one the policy gives for that body. */
async function expectSafe(endpoint: JsonEndpoint, res: Response, sentText: string): Promise<Answer> {
  const answer = await readAnswer(res);
  expectWellFormed(answer, { decision: true });
  if (answer.status === 200 && endpoint.isPermit(answer)) {
    const question = endpoint.question(JSON.parse(sentText));
    expect(question, `permit for a body the oracle cannot read: ${sentText}`).toBeDefined();
    if (question !== undefined) expect(expectedDecision(question), sentText).toBe('permit');
  }
  return answer;
}

describe('fuzzing every endpoint through HTTP', () => {
  let app: App;
  let prototypeBefore: string[];
  beforeAll(async () => {
    ({ app } = await buildTestApp());
    prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();
  });
  afterAll(() => {
    // Nothing a request carried (`__proto__`, `constructor`, `prototype` keys) reached the shared prototype.
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeBefore);
    expect(({} as Record<string, unknown>)['mfa']).toBeUndefined();
  });

  for (const endpoint of jsonEndpoints) {
    describe(`POST ${endpoint.path}`, () => {
      it('answers any JSON value with a decision or a problem, never a 5xx, never an unearned permit', async () => {
        await fc.assert(
          fc.asyncProperty(hostileJson, async (value) => {
            const text = JSON.stringify(value) ?? 'null';
            await expectSafe(endpoint, await post(app, endpoint.path, text), text);
          }),
          runs,
        );
      });

      it('answers valid bodies with one field replaced by anything (wrong types, unicode, prototype keys)', async () => {
        await fc.assert(
          fc.asyncProperty(mangledDecideBody, async (body) => {
            const text = JSON.stringify(body);
            const answer = await expectSafe(endpoint, await post(app, endpoint.path, text), text);
            if (answer.status === 400) expect(answer.body['errors']).toEqual(expect.arrayContaining([expect.objectContaining({ path: expect.any(String) })]));
          }),
          runs,
        );
      });

      it('decides exactly as the oracle on raw number lexemes (1e400, -0, 30-digit integers)', async () => {
        await fc.assert(
          fc.asyncProperty(rawNumberDecideText, async (text) => {
            const answer = await expectSafe(endpoint, await post(app, endpoint.path, text), text);
            expect(answer.status).toBe(200);
            const question = endpoint.question(JSON.parse(text));
            if (question !== undefined) expect(endpoint.isPermit(answer), text).toBe(expectedDecision(question) === 'permit');
          }),
          runs,
        );
      });

      it('answers arbitrary bytes under arbitrary media types with a problem', async () => {
        const mediaType = fc.constantFrom('application/json', 'application/json; charset=utf-16', 'text/plain', 'application/x-www-form-urlencoded', '', 'application/problem+json', 'multipart/form-data; boundary=x');
        await fc.assert(
          fc.asyncProperty(fc.uint8Array({ maxLength: 256 }), mediaType, async (bytes, type) => {
            const answer = await readAnswer(await post(app, endpoint.path, bytes, type));
            expectWellFormed(answer, { decision: true });
            if (answer.status === 200) expect(answer.body['decision']).not.toBe('permit');
          }),
          runs,
        );
      });

      it(`rejects nesting deeper than ${jsonLimits.maxDepth} levels with 400 limit_exceeded and its path, before validation`, async () => {
        await fc.assert(
          fc.asyncProperty(endpoint.validBody, depthsAroundLimit, fc.constantFrom('array', 'object', 'mixed') as fc.Arbitrary<'array' | 'object' | 'mixed'>, async (body, depth, kind) => {
            const text = JSON.stringify({ ...body, context: { deep: '@deep@' } }).replace('"@deep@"', nestedText(depth, kind));
            const answer = await expectSafe(endpoint, await post(app, endpoint.path, text), text);
            // The root object and `context` are two levels; the nested value starts at the third.
            if (depth + 2 > jsonLimits.maxDepth) {
              expect(answer.status).toBe(400);
              expect(answer.body['type']).toBe('urn:invoice-pdp:problem:limit_exceeded');
              expect((answer.body['errors'] as { path: string }[])[0]?.path).toMatch(/^\$\.context\.deep/);
            } else {
              expect(answer.body['type']).not.toBe('urn:invoice-pdp:problem:limit_exceeded');
            }
          }),
          { numRuns: 60 },
        );
      });

      it(`rejects arrays and objects over ${jsonLimits.maxCollection} members with 400 limit_exceeded`, async () => {
        await fc.assert(
          fc.asyncProperty(endpoint.validBody, sizesAroundLimit, fc.boolean(), async (body, size, asArray) => {
            const list = Array.from({ length: size }, (_, i) => i);
            const collection = asArray ? list : Object.fromEntries(list.map((i) => [`k${i}`, i]));
            const text = JSON.stringify({ ...body, context: { items: collection } });
            const answer = await expectSafe(endpoint, await post(app, endpoint.path, text), text);
            if (size > jsonLimits.maxCollection) {
              expect(answer.status).toBe(400);
              expect(answer.body['errors']).toEqual([expect.objectContaining({ path: '$.context.items' })]);
            } else {
              expect(answer.status).toBe(200);
            }
          }),
          { numRuns: 30 },
        );
      });

      it('answers the wrong method with a problem', async () => {
        for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
          const answer = await readAnswer(await app.request(endpoint.path, { method }));
          expectWellFormed(answer);
          expect(answer.status).toBeGreaterThanOrEqual(400);
        }
      });
    });
  }

  for (const endpoint of getEndpoints) {
    describe(`GET ${endpoint.path}`, () => {
      it('answers 200 JSON whatever the query string and request id header', async () => {
        const queryPart = fc.string({ unit: 'grapheme', maxLength: 16 }).map(encodeURIComponent);
        const headerValue = fc.string({ unit: 'grapheme-ascii', maxLength: 200 }).map((s) => s.replace(/[\r\n]/g, ''));
        await fc.assert(
          fc.asyncProperty(queryPart, queryPart, headerValue, async (key, value, id) => {
            const res = await app.request(`${endpoint.path}?${key}=${value}`, { headers: { 'x-request-id': id } });
            const answer = await readAnswer(res);
            expectWellFormed(answer);
            expect(answer.status).toBe(200);
            // HTTP drops the whitespace around a header value before the service sees it.
            const sent = id.trim();
            if (/^[A-Za-z0-9._:@/+=-]{1,128}$/.test(sent)) expect(answer.requestId).toBe(sent);
            else expect(answer.requestId).toMatch(/^[0-9a-f-]{36}$/);
          }),
          runs,
        );
      });

      it('answers a body sent with another method with a problem', async () => {
        await fc.assert(
          fc.asyncProperty(hostileJson, async (value) => {
            const answer = await readAnswer(await post(app, endpoint.path, JSON.stringify(value) ?? 'null'));
            expectWellFormed(answer);
            expect(answer.status).toBe(404);
          }),
          { numRuns: 50 },
        );
      });
    });
  }
});
