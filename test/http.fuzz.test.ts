import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callerKeys } from '../src/caller/keys.js';
import { jsonLimits } from '../src/json-limits.js';
import { jsonPath } from '../src/policy/json-path.js';
import {
  actionSearchAnswer,
  authzenDecision,
  decideAnswer,
  entitySearchAnswer,
  evaluationsAnswer,
  healthAnswer,
  metadataAnswer,
  metricsAnswer,
  policyListingAnswer,
  readinessAnswer,
  reloadAnswer,
} from './helpers/answer-readers.js';
import { expectWellFormed, fieldPath, readAnswer, type Answer } from './helpers/answers.js';
import { buildTestApp } from './helpers/app.js';
import { loadContract, type Contract } from './helpers/openapi.js';
import {
  asEvaluation,
  depthsAroundLimit,
  evaluationsBodies,
  hostileJson,
  inexactNumberLexemes,
  invoiceDecideBody,
  mangled,
  nestedText,
  placeholderDecideBody,
  searchBodies,
  sizesAroundLimit,
  withMembers,
  withRawNumbers,
  type InvoiceDecideBody,
} from './oracle/arbitraries.js';
import {
  batchAnswers,
  expectedDecision,
  invoicePolicyActions,
  permits,
  questionFromBody,
  questionFromEvaluation,
  questionFromSearchHit,
  questionsFromBatch,
  type InvoiceQuestion,
} from './oracle/invoice-rules.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

/** What a 200 answer grants (the question behind each permit in it) and what it says, for the oracle to judge. */
interface Reading {
  readonly granted: readonly (InvoiceQuestion | undefined)[];
  readonly verdict: unknown;
}

/**
 * A JSON endpoint, as fuzzing sees it: well-typed bodies around the invoice policy (built
 * from /decide bodies), a reader of its 200 answer, and the verdict the oracle gives a
 * well-typed body. A new endpoint is one more entry here.
 */
interface JsonEndpoint {
  readonly path: string;
  readonly bodies: (decide: fc.Arbitrary<InvoiceDecideBody>) => fc.Arbitrary<Record<string, unknown>>;
  readonly read: (sent: unknown, body: Record<string, unknown>) => Reading;
  readonly expected: (sent: unknown) => unknown;
}

const grantedIf = (permit: boolean, question: InvoiceQuestion | undefined) => (permit ? [question] : []);

const semanticOf = (body: unknown) => (body as { options?: { evaluations_semantic?: unknown } } | null)?.options?.evaluations_semantic;

function entitySearch(kind: 'subject' | 'resource'): JsonEndpoint {
  return {
    path: `/access/v1/search/${kind}`,
    bodies: (decide) => searchBodies(kind, decide),
    read: (sent, body) => {
      const hits = entitySearchAnswer(body);
      return { granted: hits.map((hit) => questionFromSearchHit(kind, sent, hit)), verdict: hits };
    },
    // Candidates come from entity data, and the shipped policies carry none.
    expected: () => [],
  };
}

const jsonEndpoints: readonly JsonEndpoint[] = [
  {
    path: '/decide',
    bodies: (decide) => decide,
    read: (sent, body) => {
      const decision = decideAnswer(body);
      return { granted: grantedIf(decision === 'permit', questionFromBody(sent)), verdict: decision };
    },
    expected: (sent) => {
      const question = questionFromBody(sent);
      return question === undefined ? 'unreadable' : expectedDecision(question);
    },
  },
  {
    path: '/access/v1/evaluation',
    bodies: (decide) => decide.map(asEvaluation),
    read: (sent, body) => {
      const decision = authzenDecision(body);
      return { granted: grantedIf(decision, questionFromEvaluation(sent)), verdict: decision };
    },
    expected: (sent) => permits(questionFromEvaluation(sent)),
  },
  {
    path: '/access/v1/evaluations',
    bodies: (decide) => evaluationsBodies(decide),
    read: (sent, body) => {
      const answer = evaluationsAnswer(body);
      if (typeof answer === 'boolean') return { granted: grantedIf(answer, questionFromEvaluation(sent)), verdict: answer };
      const questions = questionsFromBatch(sent) ?? [];
      return { granted: answer.flatMap((decision, i) => grantedIf(decision, questions[i])), verdict: answer };
    },
    expected: (sent) => {
      const questions = questionsFromBatch(sent);
      return questions === undefined ? permits(questionFromEvaluation(sent)) : batchAnswers(questions.map(permits), semanticOf(sent));
    },
  },
  entitySearch('subject'),
  entitySearch('resource'),
  {
    path: '/access/v1/search/action',
    bodies: (decide) => searchBodies('action', decide),
    read: (sent, body) => {
      const names = actionSearchAnswer(body);
      return { granted: names.map((name) => questionFromSearchHit('action', sent, { name })), verdict: names };
    },
    expected: (sent) => invoicePolicyActions.filter((name) => permits(questionFromSearchHit('action', sent, { name }))),
  },
];

const adminKey = 'fuzz-admin-key-0123456789';
const apiKey = 'fuzz-api-key-0123456789ab';
const trustedKey = 'fuzz-trusted-key-012345678';
const metricsToken = 'fuzz-metrics-token-0123456';
const adminAuth = { authorization: `Bearer ${adminKey}` };

/** A GET endpoint: the headers it needs on the fuzzed app, and a reader of its 200 answer. */
interface GetEndpoint {
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly read: (answer: Answer) => void;
}

const getEndpoints: readonly GetEndpoint[] = [
  { path: '/healthz', headers: {}, read: (a) => healthAnswer(a.body) },
  { path: '/readyz', headers: {}, read: (a) => readinessAnswer(a.body) },
  { path: '/.well-known/authzen-configuration', headers: {}, read: (a) => metadataAnswer(a.body) },
  { path: '/metrics', headers: {}, read: (a) => metricsAnswer(a.text) },
  { path: '/admin/policies', headers: adminAuth, read: (a) => policyListingAnswer(a.body) },
];

// About 4,400 requests in all: 5–8 s on two busy cores. decide.oracle runs /decide another 2,000 times.
const runs = { numRuns: 100 };

interface Sent {
  readonly method: string;
  readonly path: string;
  readonly query?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array;
}

/** A JSON body's text as the service reads it (bytes decoded as UTF-8), parsed, or undefined. */
function parsedBody(body: string | Uint8Array): unknown {
  try {
    return JSON.parse(typeof body === 'string' ? body : new TextDecoder().decode(body));
  } catch {
    return undefined;
  }
}


/** Where JSON.parse left the first number too large for a double (read as an infinity), depth first in key order. */
function firstNonFinite(value: unknown, path: (string | number)[]): (string | number)[] | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : path;
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [key, member] of Array.isArray(value) ? value.entries() : Object.entries(value)) {
    const found = firstNonFinite(member, [...path, key]);
    if (found !== undefined) return found;
  }
  return undefined;
}

describe('fuzzing every endpoint through HTTP', () => {
  /** Decision endpoints open, admin endpoints behind `adminKey`. */
  let app: App;
  /** Every protected endpoint behind its key. */
  let locked: App;
  /** No keys at all: no admin endpoints. */
  let bare: App;
  let contract: Contract;
  let prototypeBefore: string[];
  beforeAll(async () => {
    ({ app } = await buildTestApp({ app: { callers: callerKeys({ api: [], trusted: [], admin: [adminKey] }) } }));
    ({ app: locked } = await buildTestApp({ app: { callers: callerKeys({ api: [apiKey], trusted: [trustedKey], admin: [adminKey] }), metricsToken } }));
    ({ app: bare } = await buildTestApp());
    contract = await loadContract();
    prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();
  });
  afterAll(() => {
    // Nothing a request carried (`__proto__`, `constructor`, `prototype` keys) reached the shared prototype.
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeBefore);
    expect(({} as Record<string, unknown>)['mfa']).toBeUndefined();
  });

  /**
   * Sends a request and reads the answer; fails unless it is well formed (never a 5xx, every
   * error a problem) and as openapi.yaml documents the operation (or, `unrouted`, NotFound or MethodNotAllowed).
   */
  async function send(target: App, request: Sent, unrouted = false): Promise<Answer> {
    const res = await target.request(`${request.path}${request.query ?? ''}`, { method: request.method, headers: request.headers, body: request.body });
    expect(unrouted ? await contract.checkUnrouted(res.clone()) : await contract.check(request.method, request.path, res.clone())).toEqual([]);
    const answer = await readAnswer(res);
    expectWellFormed(answer);
    return answer;
  }

  /**
   * Posts `body` to a JSON endpoint: every 400 names the failing field's path, and everything a
   * 200 grants is a permit the oracle gives for the body sent.
   */
  async function post(endpoint: JsonEndpoint, body: string | Uint8Array, contentType = 'application/json'): Promise<{ answer: Answer; reading?: Reading }> {
    const answer = await send(app, { method: 'POST', path: endpoint.path, headers: { 'content-type': contentType }, body });
    if (answer.status === 400) expect(answer.body['errors'], answer.text).toEqual(expect.arrayContaining([expect.objectContaining({ path: expect.stringMatching(fieldPath) })]));
    if (answer.status !== 200) return { answer };
    const sent = parsedBody(body);
    const reading = endpoint.read(sent, answer.body);
    for (const question of reading.granted) {
      expect(question, `a permit for a body the oracle cannot read: ${String(body)}`).toBeDefined();
      if (question !== undefined) expect(expectedDecision(question), `${endpoint.path} ${String(body)}`).toBe('permit');
    }
    return { answer, reading };
  }

  for (const endpoint of jsonEndpoints) {
    describe(`POST ${endpoint.path}`, () => {
      const valid = endpoint.bodies(invoiceDecideBody);

      it('decides every well-typed question exactly as the oracle', async () => {
        await fc.assert(
          fc.asyncProperty(valid, async (body) => {
            const text = JSON.stringify(body);
            const { answer, reading } = await post(endpoint, text);
            expect(answer.status, answer.text).toBe(200);
            expect(reading?.verdict, text).toEqual(endpoint.expected(JSON.parse(text)));
          }),
          runs,
        );
      });

      it('answers any JSON value with an answer or a problem, never a 5xx, never an unearned permit', async () => {
        await fc.assert(
          fc.asyncProperty(hostileJson, async (value) => {
            await post(endpoint, JSON.stringify(value) ?? 'null');
          }),
          runs,
        );
      });

      it('answers valid bodies with one value replaced by anything (wrong types, unicode, prototype keys)', async () => {
        await fc.assert(
          fc.asyncProperty(mangled(valid), async (body) => {
            await post(endpoint, JSON.stringify(body));
          }),
          runs,
        );
      });

      it('is not swayed by __proto__, prototype or constructor members at any level', async () => {
        await fc.assert(
          fc.asyncProperty(withMembers(valid, ['__proto__', 'prototype', 'constructor']), async (text) => {
            const { answer, reading } = await post(endpoint, text);
            expect(answer.status, answer.text).toBe(200);
            expect(reading?.verdict, text).toEqual(endpoint.expected(JSON.parse(text)));
          }),
          runs,
        );
      });

      it('decides exactly as the oracle on raw number lexemes (-0, 1e-25), and refuses those beyond a double (1e400) or not exactly one (30-digit integers) at their path', async () => {
        await fc.assert(
          fc.asyncProperty(withRawNumbers(endpoint.bodies(placeholderDecideBody)), async (text) => {
            const { answer, reading } = await post(endpoint, text);
            const parsed = JSON.parse(text) as unknown;
            const overflow = firstNonFinite(parsed, []);
            if (overflow !== undefined) {
              expect(answer.status, text).toBe(400);
              expect(answer.body).toMatchObject({ type: 'urn:invoice-pdp:problem:limit_exceeded', errors: [{ path: jsonPath(overflow) }] });
              return;
            }
            if (inexactNumberLexemes.some((lexeme) => text.includes(`:${lexeme}`))) {
              expect(answer.status, text).toBe(400);
              expect(answer.body).toMatchObject({ type: 'urn:invoice-pdp:problem:limit_exceeded', errors: [{ path: expect.stringMatching(/\.(approval_limit|amount)$/), message: expect.stringContaining('is not exactly a double') }] });
              return;
            }
            expect(answer.status, answer.text).toBe(200);
            expect(reading?.verdict, text).toEqual(endpoint.expected(parsed));
          }),
          { numRuns: 50 },
        );
      });

      it('answers arbitrary bytes under arbitrary media types with a problem, or an earned answer', async () => {
        const mediaType = fc.constantFrom('application/json', 'application/json; charset=utf-16', 'text/plain', 'application/x-www-form-urlencoded', '', 'application/problem+json', 'multipart/form-data; boundary=x');
        await fc.assert(
          fc.asyncProperty(fc.uint8Array({ maxLength: 256 }), mediaType, async (bytes, type) => {
            await post(endpoint, bytes, type);
          }),
          { numRuns: 50 },
        );
      });

      it(`rejects nesting deeper than ${jsonLimits.maxDepth} levels with 400 limit_exceeded and its path, before validation`, async () => {
        await fc.assert(
          fc.asyncProperty(valid, depthsAroundLimit, fc.constantFrom('array', 'object', 'mixed') as fc.Arbitrary<'array' | 'object' | 'mixed'>, async (body, depth, kind) => {
            const text = JSON.stringify({ ...body, context: { deep: '@deep@' } }).replace('"@deep@"', nestedText(depth, kind));
            const { answer } = await post(endpoint, text);
            // The root object and `context` are two levels; the nested value starts at the third.
            if (depth + 2 > jsonLimits.maxDepth) {
              expect(answer.status).toBe(400);
              expect(answer.body['type']).toBe('urn:invoice-pdp:problem:limit_exceeded');
              expect((answer.body['errors'] as { path: string }[])[0]?.path).toMatch(/^\$\.context\.deep/);
            } else {
              expect(answer.body['type']).not.toBe('urn:invoice-pdp:problem:limit_exceeded');
            }
          }),
          { numRuns: 40 },
        );
      });

      it(`rejects arrays and objects over ${jsonLimits.maxCollection} members with 400 limit_exceeded`, async () => {
        await fc.assert(
          fc.asyncProperty(valid, sizesAroundLimit, fc.boolean(), async (body, size, asArray) => {
            const list = Array.from({ length: size }, (_, i) => i);
            const collection = asArray ? list : Object.fromEntries(list.map((i) => [`k${i}`, i]));
            const { answer } = await post(endpoint, JSON.stringify({ ...body, context: { items: collection } }));
            if (size > jsonLimits.maxCollection) {
              expect(answer.status).toBe(400);
              expect(answer.body['errors']).toEqual([expect.objectContaining({ path: '$.context.items' })]);
            } else {
              expect(answer.status).toBe(200);
            }
          }),
          { numRuns: 20 },
        );
      });

      it('answers the wrong method with the MethodNotAllowed problem', async () => {
        for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
          expect((await send(app, { method, path: endpoint.path }, true)).status).toBe(405);
        }
      });
    });
  }

  describe('POST /access/v1/evaluations, batches', () => {
    const batches = evaluationsBodies(invoiceDecideBody, 3);
    const lengths = fc.constantFrom(0, 1, 2, 99, 100, 101, 150, jsonLimits.maxCollection, jsonLimits.maxCollection + 1);
    const evaluations = jsonEndpoints.find((e) => e.path === '/access/v1/evaluations') as JsonEndpoint;

    it('answers up to 100 items, each as the oracle; 101 or more is a 400 at $.evaluations', async () => {
      await fc.assert(
        fc.asyncProperty(invoiceDecideBody, batches, lengths, async (defaults, batch, length) => {
          const items = batch['evaluations'] as unknown[];
          const body = { ...batch, ...asEvaluation(defaults), evaluations: Array.from({ length }, (_, i) => items[i % items.length] ?? {}) };
          const { answer, reading } = await post(evaluations, JSON.stringify(body));
          if (length <= 100) {
            expect(answer.status, answer.text).toBe(200);
            expect(reading?.verdict).toEqual(evaluations.expected(body));
            return;
          }
          expect(answer.status).toBe(400);
          expect(answer.body['type']).toBe(`urn:invoice-pdp:problem:${length > jsonLimits.maxCollection ? 'limit_exceeded' : 'invalid_request'}`);
          expect(answer.body['errors']).toEqual([expect.objectContaining({ path: '$.evaluations' })]);
        }),
        { numRuns: 30 },
      );
    });

    it('answers malformed items with decision false, never true, and the batch still succeeds', async () => {
      const items = fc.array(fc.oneof(hostileJson, mangled(invoiceDecideBody.map(asEvaluation))), { minLength: 1, maxLength: 6 });
      await fc.assert(
        fc.asyncProperty(invoiceDecideBody, items, fc.boolean(), async (defaults, malformed, withReasons) => {
          const body = { ...asEvaluation(defaults), evaluations: malformed, ...(withReasons && { options: { include_reasons: true } }) };
          const { answer, reading } = await post(evaluations, JSON.stringify(body));
          expect(answer.status, answer.text).toBe(200);
          expect(reading?.verdict).toEqual(evaluations.expected(JSON.parse(JSON.stringify(body))));
        }),
        runs,
      );
    });
  });

  for (const endpoint of getEndpoints) {
    describe(`GET ${endpoint.path}`, () => {
      it('answers 200 whatever the query string and request id header', async () => {
        const queryPart = fc.string({ unit: 'grapheme', maxLength: 16 }).map(encodeURIComponent);
        const headerValue = fc.string({ unit: 'grapheme-ascii', maxLength: 200 }).map((s) => s.replace(/[\r\n]/g, ''));
        await fc.assert(
          fc.asyncProperty(queryPart, queryPart, headerValue, async (key, value, id) => {
            const answer = await send(app, { method: 'GET', path: endpoint.path, query: `?${key}=${value}`, headers: { ...endpoint.headers, 'x-request-id': id } });
            expect(answer.status).toBe(200);
            endpoint.read(answer);
            // HTTP drops the whitespace around a header value before the service sees it.
            const sent = id.trim();
            if (/^[\t\x20-\x7e]{1,1024}$/.test(sent)) expect(answer.requestId).toBe(sent);
            else expect(answer.requestId).toMatch(/^[0-9a-f-]{36}$/);
          }),
          { numRuns: 50 },
        );
      });

      it('answers a body sent with another method with the MethodNotAllowed problem', async () => {
        await fc.assert(
          fc.asyncProperty(hostileJson, fc.constantFrom('POST', 'PUT', 'PATCH'), async (value, method) => {
            const headers = { ...endpoint.headers, 'content-type': 'application/json' };
            expect((await send(app, { method, path: endpoint.path, headers, body: JSON.stringify(value) ?? 'null' }, true)).status).toBe(405);
          }),
          { numRuns: 30 },
        );
      });
    });
  }

  describe('POST /admin/policies/reload', () => {
    it('reloads the unchanged set whatever body, media type and query come with it', async () => {
      const listed = await send(app, { method: 'GET', path: '/admin/policies', headers: adminAuth });
      const version = policyListingAnswer(listed.body);
      const mediaType = fc.constantFrom('application/json', 'text/plain', 'application/octet-stream');
      await fc.assert(
        fc.asyncProperty(hostileJson, mediaType, fc.string({ maxLength: 12 }).map(encodeURIComponent), async (value, type, query) => {
          const answer = await send(app, { method: 'POST', path: '/admin/policies/reload', query: `?${query}`, headers: { ...adminAuth, 'content-type': type }, body: JSON.stringify(value) ?? 'null' });
          expect(answer.status).toBe(200);
          expect(reloadAnswer(answer.body)).toEqual({ version, changed: false });
        }),
        { numRuns: 15 },
      );
    });

    it('answers another method with the MethodNotAllowed problem', async () => {
      for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
        expect((await send(app, { method, path: '/admin/policies/reload', headers: adminAuth }, true)).status).toBe(405);
      }
    });
  });

  describe('admin endpoints of a service without admin keys', () => {
    it('do not exist: 404 whatever the method, path and key', async () => {
      const path = fc.oneof(fc.constantFrom('/admin/policies', '/admin/policies/reload'), fc.string({ maxLength: 10 }).map((s) => `/admin/${encodeURIComponent(s)}`));
      const authorization = fc.oneof(fc.constant(`Bearer ${adminKey}`), fc.string({ unit: 'grapheme-ascii', maxLength: 40 }).map((s) => s.replace(/[\r\n]/g, '')));
      await fc.assert(
        fc.asyncProperty(path, fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'), authorization, async (target, method, auth) => {
          const answer = await send(bare, { method, path: target, headers: { authorization: auth } }, true);
          expect(answer.status).toBe(404);
        }),
        { numRuns: 30 },
      );
    });
  });

  describe('keys: every protected endpoint of a service with keys', () => {
    interface Guarded {
      readonly method: string;
      readonly path: string;
      readonly body: fc.Arbitrary<string | undefined>;
      /** The key that opens it; an API key on a decision endpoint is known but may not state a subject (403). */
      readonly key: string;
      readonly decision: boolean;
    }
    const guarded: readonly Guarded[] = [
      ...jsonEndpoints.map((e) => ({ method: 'POST', path: e.path, body: e.bodies(invoiceDecideBody).map((b) => JSON.stringify(b)), key: trustedKey, decision: true })),
      { method: 'GET', path: '/admin/policies', body: fc.constant(undefined), key: adminKey, decision: false },
      { method: 'POST', path: '/admin/policies/reload', body: fc.constant(undefined), key: adminKey, decision: false },
      { method: 'GET', path: '/metrics', body: fc.constant(undefined), key: metricsToken, decision: false },
    ];
    const keys = [adminKey, apiKey, trustedKey, metricsToken];
    const nearMisses = fc.constantFrom(...keys).chain((key) =>
      fc.constantFrom(`Bearer ${key.slice(0, -1)}`, `Bearer ${key}x`, `Bearer ${key.toUpperCase()}`, key, `Basic ${key}`, `Bearer ${key} ${key}`, `Bearer\t${key}`),
    );
    const authorization = fc.oneof(
      fc.constantFrom(...keys).map((key) => `Bearer ${key}`),
      nearMisses,
      fc.string({ unit: 'grapheme-ascii', maxLength: 80 }).map((s) => s.replace(/[\r\n]/g, '').trim()),
      fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 60 }).map((s) => `Bearer ${s.replace(/\s/g, '')}`),
      fc.constant(undefined),
    );

    it('opens only to its own key: 401 with a challenge otherwise, 403 for an API key stating a subject', async () => {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...guarded).chain((target) => fc.tuple(fc.constant(target), target.body)), authorization, async ([target, body], auth) => {
          const headers = { 'content-type': 'application/json', ...(auth !== undefined && { authorization: auth }) };
          const answer = await send(locked, { method: target.method, path: target.path, headers, body });
          if (auth === `Bearer ${target.key}`) {
            expect(answer.status, answer.text).toBe(200);
          } else if (target.decision && auth === `Bearer ${apiKey}`) {
            expect(answer.status).toBe(403);
            expect(answer.body['errors']).toEqual([expect.objectContaining({ path: '$.subject' })]);
          } else {
            expect(answer.status, `${target.path} ${String(auth)}`).toBe(401);
            expect(answer.body['errors']).toEqual([expect.objectContaining({ path: 'Authorization' })]);
          }
        }),
        { numRuns: 150 },
      );
    });

    it('answers the unprotected endpoints to anyone', async () => {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...getEndpoints.filter((e) => Object.keys(e.headers).length === 0 && e.path !== '/metrics')), authorization, async (endpoint, auth) => {
          const answer = await send(locked, { method: 'GET', path: endpoint.path, headers: auth === undefined ? {} : { authorization: auth } });
          expect(answer.status).toBe(200);
          endpoint.read(answer);
        }),
        { numRuns: 30 },
      );
    });
  });
});
