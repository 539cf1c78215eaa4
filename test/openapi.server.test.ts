import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { callerKeys } from '../src/caller/keys.js';
import { startServer, type RunningServer } from '../src/http/server.js';
import { RemoteKeySet } from '../src/token/jwks.js';
import { createJwtVerifier } from '../src/token/verify.js';
import { buildTestApp } from './helpers/app.js';
import { startServer as startHttpServer, type TestServer } from './helpers/http-server.js';
import { loadContract, openapiPath, type Contract } from './helpers/openapi.js';
import { answerTo, type RawResponse } from './helpers/raw-http.js';

const apiKey = 'api-key-0123456789abcdef';
const trustedKey = 'trusted-key-0123456789abcdef';
const maxBodyBytes = 1024;
const maxHeaderBytes = 1024;
const deadlineMs = 300;

const subjectBody = JSON.stringify({ subject: { id: 'acc-1', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } }, action: 'read', resource: { type: 'invoice', properties: { region: 'EU' } } });
// A well-formed JWT whose key the stalled key server never delivers: the decision waits past its deadline.
const stalledToken = 'eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSJ9.c2ln';

/** A POST /decide head (with `extra` header lines) and `body`, framed by Content-Length unless `extra` frames it. */
function decide(body: string, extra = '', key = trustedKey): string {
  const length = /transfer-encoding|content-length/i.test(extra) ? '' : `content-length: ${Buffer.byteLength(body)}\r\n`;
  return `POST /decide HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${key}\r\n${length}${extra}\r\n${body}`;
}
const json = 'content-type: application/json\r\n';

/**
 * Raw requests to POST /decide on a listening server, one per answer openapi.yaml documents for
 * it (and each way to one the service has): [what, status, bytes sent]. Answers the server
 * gives itself, before any route sees the request, are among them.
 */
const answers: [string, number, string][] = [
  ['a decision', 200, decide(subjectBody, json)],
  ['malformed JSON', 400, decide('{', json)],
  ['a bad explain parameter', 400, decide(subjectBody, json).replace('/decide', '/decide?explain=yes')],
  ['no Host', 400, decide(subjectBody, json).replace('host: 127.0.0.1\r\n', '')],
  ['two Host lines', 400, decide(subjectBody, `${json}host: other\r\n`)],
  ['HTTP/2.0', 505, decide(subjectBody, json).replace('HTTP/1.1', 'HTTP/2.0')],
  ['a Content-Length given twice', 400, decide(subjectBody, `${json}content-length: ${subjectBody.length}\r\ncontent-length: ${subjectBody.length}\r\n`)],
  ['a Transfer-Encoding not ending in chunked', 400, decide('', `${json}transfer-encoding: gzip\r\n`)],
  ['a request target with a backslash', 400, decide(subjectBody, json).replace('/decide', '/de\\cide')],
  ['no caller key', 401, decide(subjectBody, json, '')],
  ['an unknown caller key', 401, decide(subjectBody, json, 'not-a-key')],
  ['a subject from an untrusted caller', 403, decide(subjectBody, json, apiKey)],
  ['a body over MAX_BODY_BYTES', 413, decide('x'.repeat(maxBodyBytes + 1), json)],
  ['a chunked body over MAX_BODY_BYTES', 413, decide(`${(maxBodyBytes + 1).toString(16)}\r\n${'x'.repeat(maxBodyBytes + 1)}\r\n0\r\n\r\n`, `${json}transfer-encoding: chunked\r\n`)],
  ['text/plain', 415, decide(subjectBody, 'content-type: text/plain\r\n')],
  ['a gzip Content-Encoding', 415, decide(subjectBody, `${json}content-encoding: gzip\r\n`)],
  ['an unknown expectation', 417, decide(subjectBody, `${json}expect: something\r\n`)],
  ['headers over MAX_HEADER_BYTES', 431, decide(subjectBody, `${json}x-padding: ${'a'.repeat(maxHeaderBytes)}\r\n`)],
  ['1,000 header lines', 431, decide(subjectBody, `${json}${'x: y\r\n'.repeat(1000)}`)],
  ['gzip, chunked', 501, decide('0\r\n\r\n', `${json}transfer-encoding: gzip, chunked\r\n`)],
  ['a stalled dependency', 503, decide(JSON.stringify({ token: stalledToken, action: 'read', resource: { type: 'invoice' } }), json)],
];

/** Requests left incomplete, answered 408 once the client's time is up. */
const slow: [string, string][] = [
  ['headers that stop part way', 'POST /decide HTTP/1.1\r\nhost: 127.0.0.1\r\n'],
  ['a body still arriving at the deadline', decide(subjectBody, json).slice(0, -10)],
];

/**
 * Requests the HTTP server answers itself before any route sees them, whatever their method and
 * path: [what, status, the bytes sent as `METHOD path`].
 */
const serverWide: [string, number, (method: string, path: string) => string][] = [
  ['no Host', 400, (method, path) => `${method} ${path} HTTP/1.1\r\n\r\n`],
  ['HTTP/2.0', 505, (method, path) => `${method} ${path} HTTP/2.0\r\nhost: 127.0.0.1\r\n\r\n`],
  ['headers that stop part way', 408, (method, path) => `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n`],
  ['an unknown expectation', 417, (method, path) => `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nexpect: something\r\n\r\n`],
  ['headers over MAX_HEADER_BYTES', 431, (method, path) => `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nx-padding: ${'a'.repeat(maxHeaderBytes)}\r\n\r\n`],
  ['gzip, chunked', 501, (method, path) => `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ntransfer-encoding: gzip, chunked\r\n\r\n0\r\n\r\n`],
];

/** Its status, headers and body as a fetch Response, for the contract check. */
function asResponse(raw: RawResponse): Response {
  return new Response(raw.body, { status: raw.status, headers: raw.headers });
}

describe('openapi.yaml matches what a listening server answers to POST /decide, headers included', () => {
  let stalled: TestServer;
  let running: RunningServer;
  let contract: Contract;
  beforeAll(async () => {
    stalled = await startHttpServer(() => undefined);
    const keySet = new RemoteKeySet({ url: `${stalled.url}/jwks.json`, timeoutMs: 10_000, refreshMs: 0 });
    const tokens = createJwtVerifier({ keys: keySet.getKey, issuer: 'https://idp.test', audience: ['api'], algorithms: ['ES256'] });
    const { app } = await buildTestApp({ tokens, app: { maxBodyBytes, requestTimeoutMs: deadlineMs, callers: callerKeys({ api: [apiKey], trusted: [trustedKey], admin: [] }) } });
    running = await startServer(app.fetch, { port: 0, hostname: '127.0.0.1', maxHeaderBytes, headersTimeoutMs: deadlineMs, requestTimeoutMs: 10 * deadlineMs });
    contract = await loadContract();
  });
  afterAll(async () => {
    await running.shutdown(100);
    await stalled.close();
  });

  /**
   * The `errors[].path` of every problem answered above that is not a JSON path into the body,
   * but the header a 431 names, which is any the request sent (openapi.yaml says so).
   */
  const fields = new Set<string>();
  function noteFields(answer: RawResponse): void {
    if (answer.headers['content-type'] !== 'application/problem+json') return;
    const { errors = [] } = JSON.parse(answer.body) as { errors?: { path: string }[] };
    const headerNamed = (path: string) => answer.status === 431 && path !== 'request-target' && path !== 'header section';
    for (const { path } of errors) if (!path.startsWith('$') && !headerNamed(path)) fields.add(path);
  }

  it.each(answers)('%s: %i as documented', async (_, status, bytes) => {
    const answer = await answerTo(running.port, bytes);
    expect(answer.status).toBe(status);
    expect(await contract.check('POST', '/decide', asResponse(answer))).toEqual([]);
    noteFields(answer);
  });

  it.each(slow)('%s: 408 as documented', async (_, bytes) => {
    const answer = await answerTo(running.port, bytes);
    expect(answer.status).toBe(408);
    expect(await contract.check('POST', '/decide', asResponse(answer))).toEqual([]);
    noteFields(answer);
  });

  it('names every errors[].path outside the body that those answers give', async () => {
    const doc = parse(await readFile(openapiPath, 'utf8')) as { components: { schemas: { Problem: { properties: { errors: { items: { properties: { path: { description: string } } } } } } } } };
    const described = doc.components.schemas.Problem.properties.errors.items.properties.path.description;
    expect([...fields].filter((field) => !described.includes(field))).toEqual([]);
  });

  it.each(serverWide)('%s: %i as documented for every operation', async (_, status, request) => {
    const answers = await Promise.all(contract.operations.map(async (operation) => {
      const [method = '', path = ''] = operation.split(' ');
      const answer = await answerTo(running.port, request(method, path));
      return { operation, status: answer.status, issues: await contract.check(method, path, asResponse(answer)) };
    }));
    expect(answers).toEqual(contract.operations.map((operation) => ({ operation, status, issues: [] })));
  });

  it('exercises every status documented for POST /decide', () => {
    // An unexpected fault's 500, which no request above can cause, is checked in openapi.contract.test.ts.
    const sent = new Set([...answers.map(([, status]) => String(status)), '408', '500']);
    const documented = contract.statuses('POST', '/decide');
    expect(documented.filter((status) => !sent.has(status))).toEqual([]);
  });
});
