import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { findDepthViolation, findLimitViolation, jsonLimits, mayBreakSizeLimits, type JsonLimits } from '../src/json-limits.js';
import type { ProblemCode } from '../src/http/problem.js';
import { compileCondition } from '../src/policy/cel.js';
import { startDecision } from '../src/policy/cel-strict.js';
import { PolicyLoadError } from '../src/policy/errors.js';
import { loadPolicyDir } from '../src/policy/load.js';
import { RemoteKeySet } from '../src/token/jwks.js';
import { createJwtVerifier } from '../src/token/verify.js';
import { expectWellFormed, readAnswer } from './helpers/answers.js';
import { buildTestApp, postJson } from './helpers/app.js';
import { nestedText } from './oracle/arbitraries.js';
import { startWorkClock } from './helpers/work-clock.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

const subject = { id: 'alice', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } };
const read = { subject, action: 'read', resource: { type: 'invoice', properties: { region: 'EU' } } };

async function problemOf(res: Response) {
  const answer = await readAnswer(res);
  expectWellFormed(answer);
  return answer;
}

describe('request limits, each a clear 4xx problem', () => {
  let app: App;
  const rejected: ProblemCode[] = [];
  beforeAll(async () => {
    ({ app } = await buildTestApp({ app: { maxBodyBytes: 64 * 1024, onProblem: (code) => rejected.push(code) } }));
  });

  it(`accepts nesting of exactly ${jsonLimits.maxDepth} levels and rejects one more, naming the path`, async () => {
    // The root object and `context` are two levels.
    const body = (depth: number) => JSON.stringify({ ...read, context: { deep: '@' } }).replace('"@"', nestedText(depth - 2, 'object'));
    expect((await postJson(app, '/decide', body(jsonLimits.maxDepth))).status).toBe(200);
    const answer = await problemOf(await postJson(app, '/decide', body(jsonLimits.maxDepth + 1)));
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ type: 'urn:invoice-pdp:problem:limit_exceeded', errors: [{ path: `$.context.deep${'.a'.repeat(jsonLimits.maxDepth - 2)}`, message: `nested deeper than ${jsonLimits.maxDepth} levels` }] });
  });

  it('rejects nesting one level too deep after a string holding an escaped quote', async () => {
    // The quote inside `note` does not close it: the brackets after it are counted.
    const body = JSON.stringify({ ...read, context: { note: 'say "hi', deep: '@' } }).replace('"@"', nestedText(jsonLimits.maxDepth - 1, 'array'));
    const answer = await problemOf(await postJson(app, '/decide', body));
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ type: 'urn:invoice-pdp:problem:limit_exceeded', errors: [{ path: `$.context.deep${'[0]'.repeat(jsonLimits.maxDepth - 2)}`, message: `nested deeper than ${jsonLimits.maxDepth} levels` }] });
  });

  it('names the element of an array nested too deep by its index', async () => {
    const body = JSON.stringify({ ...read, context: { deep: [1, '@'] } }).replace('"@"', nestedText(jsonLimits.maxDepth - 2, 'array'));
    const answer = await problemOf(await postJson(app, '/decide', body));
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ type: 'urn:invoice-pdp:problem:limit_exceeded', errors: [{ path: `$.context.deep[1]${'[0]'.repeat(jsonLimits.maxDepth - 3)}` }] });
  });

  it('turns away a body of nothing but opening brackets at the limit, before parsing it', async () => {
    const answer = await problemOf(await postJson(app, '/decide', '['.repeat(60_000)));
    expect(answer.status).toBe(400);
    expect(answer.body['type']).toBe('urn:invoice-pdp:problem:limit_exceeded');
  });

  it('accepts a shallow body holding more brackets than the depth limit, in strings and side by side', async () => {
    const siblings = Object.fromEntries(Array.from({ length: jsonLimits.maxDepth + 10 }, (_, i) => [`k${i}`, [{}]]));
    const body = { ...read, context: { ...siblings, note: '{['.repeat(jsonLimits.maxDepth) } };
    const answer = await readAnswer(await postJson(app, '/decide', body));
    expect(answer.status).toBe(200);
    expect(answer.body['decision']).toBe('permit');
  });

  it('finds nesting too deep exactly when the parsed value is, whatever its strings hold', () => {
    // Strings of quotes, backslashes and brackets, and text with many brackets, so that the scan
    // has to skip strings to their closing quote rather than count by brackets alone.
    const tricky = fc.string({ unit: fc.constantFrom('"', '\\', '[', ']', '{', '}', 'a', ' ') });
    const value = fc.letrec<{ json: unknown }>((tie) => ({
      json: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        tricky,
        fc.integer(),
        fc.array(tie('json'), { maxLength: 4 }),
        fc.dictionary(tricky, tie('json'), { maxKeys: 4 }),
      ),
    })).json;
    const depthOf = (v: unknown): number => (typeof v === 'object' && v !== null ? 1 + Math.max(0, ...Object.values(v).map(depthOf)) : 0);
    fc.assert(
      fc.property(value, fc.integer({ min: 0, max: 6 }), fc.boolean(), (v, maxDepth, indented) => {
        const text = JSON.stringify(v, null, indented ? 2 : undefined);
        expect(findDepthViolation(text, maxDepth) !== undefined).toBe(depthOf(v) > maxDepth);
      }),
      { numRuns: 3_000 },
    );
  });

  it('walks values of any depth without overflowing the stack', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(findLimitViolation(deep)?.message).toBe(`nested deeper than ${jsonLimits.maxDepth} levels`);
  });

  it('skips the size walk only for text too short to break a size limit', () => {
    // Limits small enough for generated text to sit on both sides of them.
    const limits: JsonLimits = { maxDepth: 3, maxCollection: 10, maxString: 12 };
    const value = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 14 }),
      fc.dictionary(fc.string({ maxLength: 1 }), fc.constant(0), { maxKeys: 14 }),
      fc.string({ maxLength: 30 }),
    );
    let skipped = 0;
    fc.assert(
      fc.property(value, (v) => {
        const text = JSON.stringify(v);
        if (findDepthViolation(text, limits.maxDepth) !== undefined || mayBreakSizeLimits(text.length, limits)) return;
        skipped++;
        expect(findLimitViolation(JSON.parse(text) as unknown, limits)).toBeUndefined();
      }),
      { numRuns: 2_000 },
    );
    expect(skipped).toBeGreaterThan(200);
    // Text one element or character past a limit is always walked.
    expect(mayBreakSizeLimits(JSON.stringify(Array.from({ length: 11 }, () => 0)).length, limits)).toBe(true);
    expect(mayBreakSizeLimits(JSON.stringify('x'.repeat(13)).length, limits)).toBe(true);
  });

  it(`rejects an array of ${jsonLimits.maxCollection + 1} elements written as tightly as JSON allows, naming the path`, async () => {
    // `[0,0,…]`: 2n + 1 characters for n elements, the fewest a body breaking the limit can have.
    const zeros = (n: number) => ({ ...read, context: { l: Array.from({ length: n }, () => 0) } });
    expect((await postJson(app, '/decide', zeros(jsonLimits.maxCollection))).status).toBe(200);
    const answer = await problemOf(await postJson(app, '/decide', zeros(jsonLimits.maxCollection + 1)));
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ type: 'urn:invoice-pdp:problem:limit_exceeded', errors: [{ path: '$.context.l', message: `array longer than ${jsonLimits.maxCollection} elements` }] });
  });

  it(`accepts an object of exactly ${jsonLimits.maxCollection} members and rejects one more, naming the path`, async () => {
    const members = (n: number) => ({ ...read, context: { m: Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 0])) } });
    expect((await postJson(app, '/decide', members(jsonLimits.maxCollection))).status).toBe(200);
    const answer = await problemOf(await postJson(app, '/decide', members(jsonLimits.maxCollection + 1)));
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ type: 'urn:invoice-pdp:problem:limit_exceeded', errors: [{ path: '$.context.m', message: `object with more than ${jsonLimits.maxCollection} members` }] });
  });

  it(`rejects strings and keys over ${jsonLimits.maxString} characters`, async () => {
    const long = 'x'.repeat(jsonLimits.maxString + 1);
    for (const [context, path] of [[{ note: long }, '$.context.note'], [{ [long]: 1 }, '$.context']] as const) {
      const answer = await problemOf(await postJson(app, '/decide', { ...read, context }));
      expect(answer.status).toBe(400);
      expect(answer.body['errors']).toEqual([expect.objectContaining({ path })]);
    }
    expect((await postJson(app, '/decide', { ...read, context: { note: long.slice(1) } })).status).toBe(200);
    expect((await postJson(app, '/decide', { ...read, context: { [long.slice(1)]: 1 } })).status).toBe(200);
  });

  it('counts a string in UTF-16 code units, as the condition cost bounds do: a character beyond U+FFFF counts two', async () => {
    const emoji = '\u{1F600}'.repeat(jsonLimits.maxString / 2 + 1);
    const answer = await problemOf(await postJson(app, '/decide', { ...read, context: { note: emoji } }));
    expect(answer.status).toBe(400);
    expect(answer.body['errors']).toEqual([expect.objectContaining({ path: '$.context.note' })]);
    expect((await postJson(app, '/decide', { ...read, context: { note: emoji.slice(2) } })).status).toBe(200);
  });

  it('rejects a number too large for a double, however short the body, naming the path', async () => {
    // JSON.parse reads these as Infinity; they would pass `amount <= approval_limit` and, as
    // JSON writes them as null, share a cache key with null.
    const manager = { id: 'carol', properties: { roles: ['finance_manager'], scope: 'invoice.write', region: 'EU', approval_limit: '@' } };
    const approve = JSON.stringify({ subject: manager, action: 'approve', resource: { type: 'invoice', id: 'i9', properties: { region: 'EU', status: 'submitted', amount: 10 } }, context: { mfa: true } });
    for (const [number, path] of [['1e400', '$.subject.properties.approval_limit'], ['-1.5E+309', '$.subject.properties.approval_limit'], ['9'.repeat(400), '$.subject.properties.approval_limit']] as const) {
      const answer = await problemOf(await postJson(app, '/decide', approve.replace('"@"', number)));
      expect(answer.status, number).toBe(400);
      expect(answer.body).toMatchObject({ type: 'urn:invoice-pdp:problem:limit_exceeded', errors: [{ path, message: 'number beyond the range of a double' }] });
    }
    const evaluation = JSON.stringify({ subject: { type: 'user', ...manager }, action: { name: 'approve' }, resource: { type: 'invoice', id: 'i9', properties: { amount: 10 } } });
    const answer = await problemOf(await postJson(app, '/access/v1/evaluation', evaluation.replace('"@"', '1e400')));
    expect(answer.status).toBe(400);
    expect(answer.body['errors']).toEqual([expect.objectContaining({ path: '$.subject.properties.approval_limit' })]);
    // The largest doubles, and exponents that stay within range, are numbers like any other.
    for (const number of ['1.7976931348623157e308', '5e-324', '1e2']) {
      expect((await postJson(app, '/decide', approve.replace('"@"', number))).status, number).toBe(200);
    }
  });

  it('rejects a number a double does not hold exactly, naming its path and what it would read as', async () => {
    // JSON.parse would round both ids to 9007199254740992: `owner_id == user_id` would hold for two people.
    const ids = '{"subject":{"id":"alice","properties":{"roles":["accountant"],"scope":"invoice.read","region":"EU","user_id":9007199254740992}},"action":"read","resource":{"type":"invoice","properties":{"region":"EU","owner_id":9007199254740993}}}';
    const answer = await problemOf(await postJson(app, '/decide', ids));
    expect(answer.status).toBe(400);
    const withItem = (number: string) => JSON.stringify({ ...read, context: { items: [1, '@'] } }).replace('"@"', number);
    const message = '9007199254740993 is not exactly a double and would be read as 9007199254740992: send it as a string';
    expect(answer.body).toMatchObject({ type: 'urn:invoice-pdp:problem:limit_exceeded', detail: `$.resource.properties.owner_id: ${message}`, errors: [{ path: '$.resource.properties.owner_id', message }] });
    for (const [number, reads] of [['12345678901234567890', '12345678901234567000'], ['0.10000000000000000001', '0.1'], ['1e-400', '0'], ['1E-400', '0'], ['-4.9e-325', '0']] as const) {
      const refused = await problemOf(await postJson(app, '/decide', withItem(number)));
      expect(refused.status, number).toBe(400);
      expect(refused.body, number).toMatchObject({ type: 'urn:invoice-pdp:problem:limit_exceeded', errors: [{ path: '$.context.items[1]', message: `${number} is not exactly a double and would be read as ${reads}: send it as a string` }] });
    }
    // A long one is quoted cut, with its length: `0.` and a megabyte of zeros was quoted whole, twice.
    const long = `0.${'0'.repeat(10_000)}1`;
    const cut = await problemOf(await postJson(app, '/decide', withItem(long)));
    const cutMessage = `0.${'0'.repeat(62)}… (10003 characters) is not exactly a double and would be read as 0: send it as a string`;
    expect(cut.body).toMatchObject({ detail: `$.context.items[1]: ${cutMessage}`, errors: [{ path: '$.context.items[1]', message: cutMessage }] });
    // Of two, the first is named.
    const two = JSON.stringify({ ...read, context: { a: '@a', b: '@b' } }).replace('"@a"', '12345678901234567890').replace('"@b"', '0.10000000000000000001');
    expect((await problemOf(await postJson(app, '/decide', two))).body).toMatchObject({ errors: [{ path: '$.context.a', message: expect.stringMatching(/^12345678901234567890 /) }] });
    // First in an array, a number follows `[`.
    const first = await problemOf(await postJson(app, '/decide', JSON.stringify({ ...read, context: { items: ['@', 1] } }).replace('"@"', '12345678901234567890')));
    expect(first.status).toBe(400);
    expect(first.body).toMatchObject({ type: 'urn:invoice-pdp:problem:limit_exceeded', errors: [{ path: '$.context.items[0]' }] });
    const evaluation = JSON.stringify({ subject: { type: 'user', id: 'alice', properties: { employee_no: '@' } }, action: { name: 'read' }, resource: { type: 'invoice', id: 'i9' } });
    const authzen = await problemOf(await postJson(app, '/access/v1/evaluation', evaluation.replace('"@"', '12345678901234567890')));
    expect(authzen.status).toBe(400);
    expect(authzen.body).toMatchObject({ type: 'urn:invoice-pdp:problem:limit_exceeded', errors: [{ path: '$.subject.properties.employee_no' }] });
    // Numbers a double holds, however many digits they are written with, and ids sent as strings.
    for (const number of ['1234.5', '10000', '9007199254740992', '-0', '1e21', '0.1000000000000000', '"9007199254740993"']) {
      expect((await postJson(app, '/decide', withItem(number))).status, number).toBe(200);
      expect((await postJson(app, '/access/v1/evaluation', evaluation.replace('"@"', number))).status, number).toBe(200);
    }
  });

  /** Work, on the work clock, to refuse `times` bodies each holding `number`, inexact, as `$.context.amount`. */
  async function inexactWork(to: App, number: string, times: number) {
    const body = JSON.stringify({ ...read, context: { amount: '@' } }).replace('"@"', number);
    const elapsed = startWorkClock();
    for (let i = 0; i < times; i++) {
      const answer = await problemOf(await postJson(to, '/decide', body));
      expect(answer.body).toMatchObject({ type: 'urn:invoice-pdp:problem:limit_exceeded', errors: [{ path: '$.context.amount' }] });
    }
    return elapsed();
  }

  it('checks a number of many digits for exactness in time linear in its length', async () => {
    // 1.000…01 reads as 1. Ten numbers of 6,000 digits against one of 60,000: as much text, so about as much work.
    const short = await inexactWork(app, `1.${'0'.repeat(6_000)}1`, 10);
    const long = await inexactWork(app, `1.${'0'.repeat(60_000)}1`, 1);
    expect(long).toBeLessThan(4 * short);
  });

  it('checks a number with a long exponent for exactness as fast as one with as many digits', async () => {
    // Both read as a double other than what they write (0 and 1), in the largest body taken by default.
    const { app: large } = await buildTestApp();
    const exponent = await inexactWork(large, `1e-${'9'.repeat(1_000_000)}`, 1);
    const digits = await inexactWork(large, `1.${'0'.repeat(1_000_000)}1`, 1);
    expect(exponent).toBeLessThan(4 * digits);
  });

  it('answers 413 over the body limit, with or without a Content-Length', async () => {
    const big = JSON.stringify({ ...read, context: { pad: 'x'.repeat(10_000) }, more: Array.from({ length: 10 }, () => 'y'.repeat(10_000)) });
    expect((await problemOf(await postJson(app, '/decide', big, { 'content-length': String(Buffer.byteLength(big)) }))).status).toBe(413);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode(' '.repeat(10_000)));
        controller.close();
      },
    });
    const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body: stream, duplex: 'half' } as RequestInit;
    expect((await problemOf(await app.request('/decide', init))).status).toBe(413);
  });

  it('counts a body sent chunked as it comes, whatever Content-Length it also declares', async () => {
    // Node's parser refuses the pair (http-transfer-coding.test.ts); a fetch handler called directly sees both.
    const big = JSON.stringify({ ...read, context: { pad: 'x'.repeat(100_000) } });
    const res = await postJson(app, '/decide', big, { 'content-length': '10', 'transfer-encoding': 'chunked' });
    expect((await problemOf(res)).status).toBe(413);
  });

  it('reports each rejection through the onProblem hook once, by code, and nothing for an answer', async () => {
    rejected.length = 0;
    expect((await postJson(app, '/decide', '['.repeat(100))).status).toBe(400);
    expect((await postJson(app, '/decide', JSON.stringify({ ...read, context: { pad: 'x'.repeat(100_000) } }))).status).toBe(413);
    expect((await postJson(app, '/decide', read)).status).toBe(200);
    expect(rejected).toEqual(['limit_exceeded', 'payload_too_large']);
  });
});

describe('condition cost: no condition can run away on request data', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pdp-cost-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function policyDir(name: string, condition: string): Promise<string> {
    const path = join(dir, name);
    await mkdir(path);
    const policy = { id: 'ledger', resource: 'ledger', rules: [{ id: 'lines', effect: 'permit', actions: ['read'], condition }] };
    await writeFile(join(path, 'ledger.json'), JSON.stringify(policy));
    return path;
  }

  it('refuses to load comprehensions nested over request lists, saying why', async () => {
    for (const condition of [
      'resource.properties.lines.exists(a, resource.properties.lines.exists(b, a == b))',
      'resource.properties.lines.all(x, resource.properties.lines.all(y, resource.properties.lines.all(z, true)))',
      'resource.properties.lines.map(l, l.tags).exists(t, t.exists(u, u == "x"))',
      'resource.properties.text.split("").exists(a, resource.properties.text.split("").exists(b, a == b))',
    ]) {
      expect(() => compileCondition(condition), condition).toThrow(/too costly/);
    }
    const load = loadPolicyDir(await policyDir('nested', 'resource.properties.lines.exists(a, resource.properties.lines.exists(b, a == b))'));
    await expect(load).rejects.toBeInstanceOf(PolicyLoadError);
    await expect(load).rejects.toThrow(/ledger\.json \$\.rules\[0\]\.condition \(rule lines\): too costly: up to \d+ evaluation steps/);
  });

  it.each([
    ['the predicate of a three-argument map', 'context.a.map(x, context.b.exists(y, y == x), x) == []'],
    ['a filter', 'context.a.filter(x, x > 0.0).exists(y, context.b.exists(z, z == y))'],
    ['the first branch of a choice', '(context.ok ? context.a : []).exists(x, context.b.exists(y, x == y))'],
    ['the second branch of a choice', '(context.ok ? [] : context.a).exists(x, context.b.exists(y, x == y))'],
    ['an element of a list literal', '[context.a].exists(l, l.exists(x, context.b.exists(y, x == y)))'],
    ['a value of a map literal', '{"k": context.a}["k"].exists(x, context.b.exists(y, x == y))'],
    ['an element of a request list', 'context.a[0].exists(x, context.b.exists(y, x == y))'],
    ['the list a join reads', 'context.a.map(x, context.b.exists(y, y == x) ? "y" : "n").join(",") == ""'],
  ])('refuses to load comprehensions nested over request lists through %s', (_, condition) => {
    expect(() => compileCondition(condition)).toThrow(/too costly/);
  });

  // Each loaded, its collections deeper than the first level costed as request lists (1,000
  // elements) whatever the condition had built there: the first held the event loop 100 s on a
  // 40 KB body (2,000 × 2,000 × 1,000 steps), the last built 64,000 elements from 1,000.
  it.each([
    ['an element of a concatenation of list literals', '([context.a] + [context.a])[0].exists(x, context.a.exists(y, x in context.b))'],
    ['a list concatenated inside two list literals', '[[context.a + context.a + context.a]][0][0].exists(x, x in context.b)'],
    ['a list concatenated inside two map literals', '{"k": {"j": context.a + context.a + context.a}}.k.j.exists(x, x in context.b)'],
    ['an element of a comprehension variable', '[[context.a + context.a + context.a]].exists(l, l[0].exists(x, x in context.b))'],
    ['an element of what map makes', '[1].map(i, [context.a + context.a + context.a])[0][0].exists(x, x in context.b)'],
    ['lists grown level by level in comprehension variables', '[context.a].exists(l, [[l + l + l + l]].exists(m, [[m[0] + m[0] + m[0] + m[0]]].exists(n, n[0].exists(x, x in context.b))))'],
  ])('refuses to load a comprehension over a list built larger than a request list: %s', (_, condition) => {
    expect(() => compileCondition(condition)).toThrow(/too costly/);
  });

  // Both loaded before: one split text built by `join` (16M pieces: 2.9 s on a 23 KB body),
  // the other copies a list 100 times per element (12 s on 300 elements).
  const chain = (k: number, term: string) => Array.from({ length: k }, () => term).join(' + ');
  it.each([
    ['split of text joined in the condition', 'context.l.map(x, context.s).join("").split("").exists(c, c == "z")'],
    ['split of text concatenated in the condition', `(${chain(100, 'context.s')}).split("").exists(c, c == "z")`],
    ['a chain of list concatenations in a comprehension', `context.l.exists(x, size(${chain(100, 'context.l')}) == 0)`],
    ['a chain of string concatenations', `size(${chain(100, 'context.s')}) == 0`],
  ])('refuses to load a condition that grows a value itself: %s', async (name, condition) => {
    const load = loadPolicyDir(await policyDir(name.replace(/\W+/g, '-'), condition));
    await expect(load).rejects.toBeInstanceOf(PolicyLoadError);
    await expect(load).rejects.toThrow(/ledger\.json \$\.rules\[0\]\.condition \(rule lines\): too costly: up to \d+ evaluation steps/);
  });

  it('loads a split or a concatenation of request values, also inside one comprehension', () => {
    for (const condition of [
      '(resource.properties.a + "," + resource.properties.b).split(",").exists(t, t == "x")',
      '[resource.properties.team, resource.properties.owner].join(":").split(":").exists(p, p == "x")',
      'subject.roles + ["auditor"] == ["auditor"]',
      'subject.roles.exists(r, r == resource.properties.team + ":admin")',
      'resource.properties.lines.all(l, l.amount + 1.0 <= 1000.0)',
      'resource.properties.lines.all(l, l.amount + l.tax <= 1000.0)',
      'resource.properties.tags.join(",") == "urgent"',
      // Loaded before built values were costed: keys built per element, looked up in a list.
      'subject.roles.exists(r, (resource.properties.tenant + ":" + r) in resource.properties.grants)',
      'resource.properties.lines.exists(l, l.cost_center + "/" + l.account in subject.properties.allowed)',
      'resource.properties.lines.all(l, (subject.id + ":" + l.cost_center) in subject.properties.grants)',
    ]) {
      expect(() => compileCondition(condition), condition).not.toThrow();
    }
  });

  it('loads one comprehension, and a scan inside one, and evaluates them on the largest lists accepted', async () => {
    for (const condition of ['subject.roles.exists(r, r in resource.properties.approvers)', '[1.0, 2.0].exists(x, resource.properties.lines.exists(l, l.amount == x))']) {
      expect(() => compileCondition(condition), condition).not.toThrow();
    }
    const { app } = await buildTestApp({ policyDir: await policyDir('single', 'resource.properties.lines.all(l, l.amount <= 1000.0 && l.currency == "EUR")') });
    const lines = (n: number) => Array.from({ length: n }, (_, i) => ({ amount: i % 1000, currency: 'EUR' }));
    const ask = (n: number) => postJson(app, '/decide', { subject, action: 'read', resource: { type: 'ledger', properties: { lines: lines(n) } } });
    const elapsed = startWorkClock();
    const answer = await readAnswer(await ask(jsonLimits.maxCollection));
    expect(answer.body['decision']).toBe('permit');
    // Generous: a runaway condition takes seconds to hours; a bounded one, milliseconds. On the
    // work clock: a wait for a core is no work.
    expect(elapsed()).toBeLessThan(1_000);
    expect((await ask(jsonLimits.maxCollection + 1)).status).toBe(400);
  });

  it('costs the subject\'s aliases as entity data bounds them, at most 64 of 1,024 characters, and a request list as any', () => {
    const owner = 'resource.properties.owner.trim().lowerAscii()';
    expect(() => compileCondition(`${owner} in subject.aliases.map(a, a.trim().lowerAscii())`)).not.toThrow();
    expect(() => compileCondition(`${owner} in context.aliases.map(a, a.trim().lowerAscii())`)).toThrow(/too costly/);
    // A comprehension's own variable named `subject` is request data, not the subject.
    expect(() => compileCondition(`[context.m].exists(subject, ${owner} in subject.aliases.map(a, a.trim().lowerAscii()))`)).toThrow(/too costly/);
  });

  const repeated = (n: number, term: string, separator: string) => Array.from({ length: n }, () => term).join(separator);
  it.each([
    ['maxListElements (256)', (n: number) => `size([${repeated(n, '1', ', ')}]) > 0`, 256],
    ['maxDepth (32)', (n: number) => `${'('.repeat(n)}true${')'.repeat(n)}`, 31],
    ['maxAstNodes (512)', (n: number) => repeated(n, 'true', ' && '), 256],
  ])('loads a condition at the parser\'s %s and refuses one past it', (limit, condition, most) => {
    expect(() => compileCondition(condition(most))).not.toThrow();
    expect(() => compileCondition(condition(most + 1))).toThrow(`syntax: Exceeded ${limit}`);
  });

  it('checks the comparisons of a condition\'s constant parts at load on a budget of their own, whatever the last decision spent', () => {
    const compared = compileCondition('context.a == context.b');
    const values = Array.from({ length: 1000 }, () => Array.from({ length: 100 }, () => ({})));
    startDecision();
    expect(() => compared({ subject: {}, resource: {}, action: {}, context: { a: values, b: values }, now: new Date() })).toThrow(/beyond the 100000 values/);
    expect(() => compileCondition('[1, 2] == [1, 2] && context.ok == true')).not.toThrow();
  });
});

describe('request timeout', () => {
  let stalled: Server;
  let url: string;
  beforeAll(async () => {
    // A key server that accepts the connection and never answers.
    stalled = createServer(() => undefined);
    stalled.listen(0, '127.0.0.1');
    await once(stalled, 'listening');
    url = `http://127.0.0.1:${(stalled.address() as AddressInfo).port}/jwks.json`;
  });
  afterAll(async () => {
    stalled.closeAllConnections();
    await new Promise((resolve) => stalled.close(resolve));
  });

  it('answers 503 timeout with Retry-After when a dependency stalls, and never a decision', async () => {
    const keySet = new RemoteKeySet({ url, timeoutMs: 10_000, refreshMs: 0 });
    const tokens = createJwtVerifier({ keys: keySet.getKey, issuer: 'https://idp.test', audience: ['api'], algorithms: ['ES256'] });
    const { app } = await buildTestApp({ tokens, app: { requestTimeoutMs: 200 } });
    const token = 'eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSJ9.c2ln';
    const started = performance.now();
    const res = await postJson(app, '/decide', { ...read, subject: undefined, token });
    const answer = await readAnswer(res);
    expect(answer.status).toBe(503);
    expect(answer.contentType).toBe('application/problem+json');
    expect(answer.body).toMatchObject({ type: 'urn:invoice-pdp:problem:timeout', status: 503, requestId: answer.requestId });
    expect(res.headers.get('retry-after')).toBe('1');
    expect(performance.now() - started).toBeLessThan(1_500);
    // Once no request waits, the deadline timer stops; the next stalled request starts it again.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const again = await readAnswer(await postJson(app, '/decide', { ...read, subject: undefined, token }));
    expect(again.body).toMatchObject({ type: 'urn:invoice-pdp:problem:timeout', status: 503 });
  });

  it('refuses a timeout that is not a positive number when the app is built', async () => {
    await expect(buildTestApp({ app: { requestTimeoutMs: 0 } })).rejects.toThrow(RangeError);
  });
});
