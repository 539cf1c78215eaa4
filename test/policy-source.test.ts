import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { callerKeys } from '../src/caller/keys.js';
import { policySetCandidates } from '../src/decision/candidates.js';
import { SearchService } from '../src/decision/search.js';
import { DecisionService } from '../src/decision/service.js';
import { createApp } from '../src/http/app.js';
import { loadPolicyDir } from '../src/policy/load.js';
import { PolicyReloader } from '../src/policy/reload.js';
import { PolicyStore } from '../src/policy/store.js';
import { readJson } from './helpers/app.js';
import { runCli } from './helpers/cli.js';
import { runServerToExit } from './helpers/process.js';
import { tempDir } from './helpers/policy-dir.js';

/** A deny that a second `effect` turns into a permit: JSON.parse keeps the last. */
const flippedRule = '{"id":"r","effect":"deny","actions":["read"],"roles":["x"],"effect":"permit"}';
const policyWith = (rule: string): string => `{"id":"docs","resource":"doc","rules":[${rule}]}`;
const goodPolicy = policyWith('{"id":"r","effect":"deny","actions":["read"]}');
const request = '{"subject":{"id":"u1"},"action":"read","resource":{"type":"doc"}}';
const fixture = (expect: string): string => `{"cases":[{"name":"reads","request":${request},"expect":${expect}}]}`;

const made: { remove: () => Promise<void> }[] = [];
afterAll(async () => {
  await Promise.all(made.map((dir) => dir.remove()));
});

/** A policy directory holding `files` (path → text or bytes), written byte for byte. */
async function policyDir(files: Readonly<Record<string, string | Uint8Array>>): Promise<string> {
  const dir = await tempDir('pdp-source-');
  made.push(dir);
  for (const [name, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir.path, name)), { recursive: true });
    await writeFile(join(dir.path, name), content);
  }
  return dir.path;
}

const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8');
const withBom = (text: string): Buffer => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), utf8(text)]);
const utf16 = (text: string): Buffer => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);

describe.concurrent('a key written twice in one object', () => {
  it('refuses the policy file with its path (validate, test, check), where JSON.parse would keep the last', async ({ expect }) => {
    const dir = await policyDir({ 'docs.json': policyWith(flippedRule), 'tests/docs.json': fixture('{"decision":"deny"}') });
    const requestFile = join(dir, 'request.txt');
    await writeFile(requestFile, request);
    for (const args of [['validate', dir], ['test', dir], ['check', dir, '--request', requestFile]]) {
      const run = await runCli(args);
      expect(run.code, args[0]).toBe(1);
      expect(run.stderr).toContain('error docs.json $.rules[0].effect: duplicate key');
      expect(run.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('leaves the file as it is under pdp fmt, exit 1, so the deny is not silently dropped', async ({ expect }) => {
    const dir = await policyDir({ 'docs.json': policyWith(flippedRule) });
    for (const args of [['fmt', dir], ['fmt', dir, '--check']]) {
      const run = await runCli(args);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('error docs.json $.rules[0].effect: duplicate key');
    }
    expect(await readFile(join(dir, 'docs.json'), 'utf8')).toBe(policyWith(flippedRule));
  });

  it('compares keys as the parser reads them, escapes decoded', async ({ expect }) => {
    const dir = await policyDir({ 'docs.json': policyWith('{"id":"r","effect":"deny","actions":["read"],"\\u0065ffect":"permit"}') });
    const run = await runCli(['validate', dir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('docs.json $.rules[0].effect: duplicate key');
  });

  it('names the path into arrays and nested objects, in entity data and test files too', async ({ expect }) => {
    const dir = await policyDir({
      'docs.json': goodPolicy,
      'data/users.json': '{"entities":[{"type":"user","id":"u0"},{"type":"user","id":"u1","properties":{"region":"EU","a\\"b":1,"region":"US"}}]}',
      'tests/docs.json': fixture('{"decision":"deny","decision":"permit"}'),
    });
    const run = await runCli(['validate', dir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error data/users.json $.entities[1].properties.region: duplicate key');
    const tests = await runCli(['test', await policyDir({ 'docs.json': goodPolicy, 'tests/docs.json': fixture('{"decision":"deny","decision":"permit"}') })]);
    expect(tests.code).toBe(1);
    expect(tests.stderr).toContain('error tests/docs.json $.cases[0].expect.decision: duplicate key');
  });

  it('takes the same key in sibling objects, nested objects and values', async ({ expect }) => {
    const rules = [
      '{"id":"r","effect":"deny","actions":["effect","id"],"advice":{"id":"x","effect":{"id":1}}}',
      '{"id":"s","effect":"permit","actions":["read"],"description":"\\"id\\": \\"effect\\""}',
    ];
    const dir = await policyDir({ 'docs.json': policyWith(rules.join(',')) });
    const run = await runCli(['validate', dir]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
  });

  it('refuses the set at server start and on reload (422), the last good set serving', async ({ expect }) => {
    const dir = await policyDir({ 'docs.json': policyWith(flippedRule) });
    const start = await runServerToExit({ POLICY_DIR: dir });
    expect(start.code).toBe(1);
    expect(start.stderr).toContain('docs.json $.rules[0].effect: duplicate key');

    await writeFile(join(dir, 'docs.json'), goodPolicy);
    const policies = new PolicyStore(await loadPolicyDir(dir));
    const reloader = new PolicyReloader({ dir, store: policies });
    const decisions = new DecisionService({ policies, tokens: undefined });
    const search = new SearchService({ decisions, candidates: policySetCandidates(policies) });
    const key = 'admin-key-0123456789abcdef';
    const app = createApp({ decisions, policies, search, callers: callerKeys({ api: [], trusted: [], admin: [key] }), admin: { policies, reloader } });
    const good = policies.current.set.version;
    await writeFile(join(dir, 'docs.json'), policyWith(flippedRule));
    const res = await app.request('/admin/policies/reload', { method: 'POST', headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(422);
    expect((await readJson(res)).errors).toEqual([{ file: 'docs.json', path: '$.rules[0].effect', message: 'duplicate key' }]);
    expect(policies.current.set.version).toBe(good);
  });
});

describe.concurrent('a source file that is not plain UTF-8', () => {
  it.for([
    ['with a UTF-8 byte order mark', withBom(goodPolicy), 'starts with a byte order mark: save as UTF-8 without BOM'],
    ['in UTF-16 with a byte order mark', utf16(goodPolicy), 'not UTF-8 (UTF-16 or UTF-32, it seems): save as UTF-8 without BOM'],
    ['in UTF-16 without one', Buffer.from(goodPolicy, 'utf16le'), 'not UTF-8 (UTF-16 or UTF-32, it seems): save as UTF-8 without BOM'],
    [
      'with bytes that are not UTF-8 (Latin-1 in a condition)',
      Buffer.concat([utf8('{"id":"docs","resource":"doc",\n"rules":[{"id":"r","effect":"deny","actions":["read"],"condition":"subject.id == \\"Jos'), Buffer.from([0xe9]), utf8('\\""}]}')]),
      'not UTF-8: line 2 holds bytes that are not valid UTF-8; save as UTF-8',
    ],
  ] as const)('refuses a policy file %s, naming it, and fmt leaves it alone', async ([, bytes, message], { expect }) => {
    const dir = await policyDir({ 'docs.json': bytes });
    const run = await runCli(['validate', dir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`error docs.json $: ${message}`);
    expect(run.stderr).not.toContain('Unexpected token');
    const fmt = await runCli(['fmt', dir]);
    expect(fmt.code).toBe(1);
    expect(fmt.stderr).toContain(`error docs.json $: ${message}`);
    expect(await readFile(join(dir, 'docs.json'))).toEqual(bytes);
  });

  it('places a NUL byte after the JSON of a UTF-8 file, rather than taking the file for UTF-16', async ({ expect }) => {
    const lines = `${goodPolicy}\n`.split('\n').length;
    const dir = await policyDir({ 'docs.json': Buffer.concat([utf8(`${goodPolicy}\n`), Buffer.from([0])]) });
    const run = await runCli(['validate', dir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`error docs.json $: not valid JSON at line ${lines}, column 1: U+0000 after the end of the JSON value`);
  });

  it('refuses entity data, test files and a check request the same way', async ({ expect }) => {
    const dir = await policyDir({
      'docs.json': goodPolicy,
      'data/users.json': withBom('{"entities":[]}'),
      'tests/docs.json': utf16(fixture('{"decision":"deny"}')),
      'request.json': withBom(request),
    });
    const run = await runCli(['validate', dir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error data/users.json $: starts with a byte order mark');
    const tests = await runCli(['test', await policyDir({ 'docs.json': goodPolicy, 'tests/docs.json': utf16(fixture('{"decision":"deny"}')) })]);
    expect(tests.code).toBe(1);
    expect(tests.stderr).toContain('error tests/docs.json $: not UTF-8');
    const check = await runCli(['check', await policyDir({ 'docs.json': goodPolicy }), '--request', join(dir, 'request.json')]);
    expect(check.code).toBe(1);
    expect(check.stderr).toContain('request.json $: starts with a byte order mark');
  });

  it('takes UTF-8 beyond ASCII', async ({ expect }) => {
    const dir = await policyDir({ 'docs.json': policyWith('{"id":"r","effect":"deny","actions":["read"],"condition":"subject.id == \\"José 🧾\\""}') });
    const run = await runCli(['validate', dir]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
  });
});
