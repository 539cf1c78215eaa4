import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CompiledPolicySet } from '../src/policy/compiled.js';
import { PolicyLoadError, type PolicyIssue } from '../src/policy/errors.js';
import { loadPolicyDir } from '../src/policy/load.js';
import { loadFixtures } from '../src/policy/testing.js';
import { newAjv } from './helpers/ajv.js';
import { defaultPolicyDir } from './helpers/app.js';
import { docPolicy, tempDir, writeFiles } from './helpers/policy-dir.js';
import { runCli } from './helpers/process.js';

/**
 * The JSON Schemas `pdp schema` prints (what editors and CI validate files with) against the
 * loader (what the service, `pdp validate` and `pdp test` accept), on near-valid documents:
 * the shipped policy and test files and README's examples, each changed in a few places. A
 * document the schema refuses is always one the loader refuses; one the loader refuses is one the
 * schema refuses, but for the rules a JSON Schema cannot state (about other files, other
 * fields' values, a value's size as JSON, its meaning in CEL), which the schema's descriptions name.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const readme = await readFile(join(import.meta.dirname, '../README.md'), 'utf8');

/** The first json block of README's section `heading`. */
function readmeExample(heading: string): Json {
  const section = readme.slice(readme.indexOf(`### ${heading}`));
  const block = /```json\n([\s\S]*?)```/.exec(section);
  return JSON.parse(block?.[1] ?? 'null') as Json;
}

async function readJson(path: string): Promise<Json> {
  return JSON.parse(await readFile(path, 'utf8')) as Json;
}

/** Every place in `doc` a mutation may touch: the root and each member and element, by path. */
function places(doc: Json, path: (string | number)[] = []): (string | number)[][] {
  const found = [path];
  if (Array.isArray(doc)) doc.forEach((item, i) => found.push(...places(item, [...path, i])));
  else if (doc !== null && typeof doc === 'object') for (const [key, member] of Object.entries(doc)) found.push(...places(member, [...path, key]));
  return found;
}

function at(doc: Json, path: readonly (string | number)[]): Json {
  let value = doc;
  for (const step of path) value = (value as Record<string | number, Json>)[step] as Json;
  return value;
}

type Mutation = { kind: 'set'; value: Json } | { kind: 'drop' } | { kind: 'add'; key: string; value: Json } | { kind: 'empty' } | { kind: 'copy' };

/** `doc` with `mutation` applied at `path` (a copy; the original is left alone). */
function mutate(doc: Json, path: readonly (string | number)[], mutation: Mutation, other: Json): Json {
  const copy = structuredClone(doc);
  const parentPath = path.slice(0, -1);
  const last = path[path.length - 1];
  const target = at(copy, path);
  const parent = parentPath.length === path.length ? undefined : (at(copy, parentPath) as Record<string | number, Json> | Json[]);
  const replace = (value: Json): Json => {
    if (last === undefined || parent === undefined) return value;
    (parent as Record<string | number, Json>)[last] = value;
    return copy;
  };
  switch (mutation.kind) {
    case 'set':
      return replace(mutation.value);
    case 'drop':
      if (last === undefined) return copy;
      if (Array.isArray(parent)) parent.splice(last as number, 1);
      else if (parent !== undefined) Reflect.deleteProperty(parent, last);
      return copy;
    case 'add':
      if (target !== null && typeof target === 'object' && !Array.isArray(target)) Object.defineProperty(target, mutation.key, { value: mutation.value, enumerable: true, writable: true, configurable: true });
      else if (Array.isArray(target)) target.push(mutation.value);
      return copy;
    case 'empty':
      return replace(Array.isArray(target) ? [] : target !== null && typeof target === 'object' ? {} : '');
    case 'copy':
      return replace(structuredClone(other));
  }
}

const fieldNames = [
  '$schema', 'id', 'resource', 'description', 'rules', 'effect', 'actions', 'roles', 'scopes', 'condition', 'advice',
  'now', 'cases', 'groups', 'name', 'request', 'expect', 'subject', 'action', 'type', 'properties', 'context', 'decision', 'reasons',
  'entities', 'aliases', 'authoritative', 'condtion', '__proto__', 'toString',
];

const text = fc.oneof(
  fc.constantFrom(
    '', ' ', '*', 'read', 'approve', 'permit', 'deny', 'allow', 'invoice', 'doc', 'user', 'true', 'a b', 'read ', ' read', 'read\u200b', '\u3164', '\u00ad',
    'P1-x', '-x', 'x y', 'é', 'iss', 'roles', 'no_applicable_rule', 'inv-7', 'u-7f3a',
    '2025-03-03T09:00:00Z', '2025-03-03T09:00:00.123456789+05:30', '0000-06-01T00:00:00Z', '0001-01-01T00:00:00Z', '9999-12-31T23:59:59Z',
    '9999-12-31T23:30:00-01:00', '2024-02-29T00:00:00Z', '2023-02-29T00:00:00Z', '2025-03-03 09:00:00Z', '2025-03-03T09:00:00z', '2025-03-03T09:00Z',
    '2025-03-03T23:59:60Z', '2025-03-03T09:00:00+0100', '2025-03-03T09:00:00',
    'x'.repeat(128), 'x'.repeat(129), 'x'.repeat(256), 'x'.repeat(257), 'x'.repeat(1024), 'x'.repeat(1025), 'x'.repeat(2000), 'x'.repeat(2001),
    '\u{1F600}'.repeat(128), '\u{1F600}'.repeat(129), 'x'.repeat(4096), 'x'.repeat(4097), '\ud800', 'a\u0000b',
  ),
  fc.string({ maxLength: 6, unit: 'binary' }),
);
const scalar = fc.oneof(text, fc.constantFrom(null, true, false, 0, -1, 1.5, 1e300, -0));
const value: fc.Arbitrary<Json> = fc.oneof(
  { weight: 4, arbitrary: scalar },
  { weight: 1, arbitrary: fc.array(scalar, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.dictionary(fc.constantFrom(...fieldNames), scalar, { maxKeys: 2 }) },
  { weight: 1, arbitrary: fc.constantFrom<Json>({ step_up: 'mfa' }, { big: 'x'.repeat(4090) }, [{ step_up: 'mfa' }], ['x'.repeat(4096)], { name: 'approve' }) },
);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: value.map((v): Mutation => ({ kind: 'set', value: v })) },
  { weight: 2, arbitrary: fc.constant<Mutation>({ kind: 'drop' }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('add' as const), key: fc.constantFrom(...fieldNames), value }) },
  { weight: 1, arbitrary: fc.constant<Mutation>({ kind: 'empty' }) },
  { weight: 2, arbitrary: fc.constant<Mutation>({ kind: 'copy' }) },
);

/** Up to three mutations of one of `bases`, each at a place of the document as it then is. */
function nearValid(bases: readonly Json[]): fc.Arbitrary<Json> {
  return fc
    .tuple(fc.constantFrom(...bases), fc.array(fc.tuple(fc.nat(), fc.nat(), mutation), { minLength: 1, maxLength: 3 }))
    .map(([base, steps]) => steps.reduce((doc, [where, from, step]) => {
      const all = places(doc);
      const path = all[where % all.length] ?? [];
      return mutate(doc, path, step, at(doc, all[from % all.length] ?? []));
    }, base));
}

function refusal(error: unknown): readonly PolicyIssue[] {
  if (error instanceof PolicyLoadError) return error.issues;
  throw error;
}

type Kind = 'policy' | 'fixture' | 'entities';

/**
 * Problems only the loader can find, which a JSON Schema cannot state: about other files or
 * other members (ids and names given twice, an action or type spelt two ways, an action no rule
 * names), a value's meaning (CEL) or its size as JSON, an instant's year in UTC. Each is named
 * by the description at `at` in the schema of its kind, so editors show it.
 */
const beyondSchema: readonly { readonly kind: Kind; readonly message: RegExp; readonly path?: RegExp; readonly at: readonly string[]; readonly says: RegExp }[] = [
  { kind: 'policy', message: /^duplicate policy id/, at: ['properties', 'id'], says: /unique/i },
  { kind: 'policy', message: /^duplicate rule id/, at: ['properties', 'rules', 'items', 'properties', 'id'], says: /unique/i },
  { kind: 'policy', message: /differ only in case or form/, path: /^\$\.resource$/, at: ['properties', 'resource'], says: /case or form/ },
  { kind: 'policy', message: /differ only in case or form/, path: /\.actions\[\d+\]$/, at: ['properties', 'rules', 'items', 'properties', 'actions'], says: /case or form/ },
  { kind: 'policy', message: /^(syntax|type|condition|unknown|value)|cost/i, path: /\.condition$/, at: ['properties', 'rules', 'items', 'properties', 'condition'], says: /CEL.*load/ },
  { kind: 'policy', message: /^at most 4096 characters of JSON$/, at: ['properties', 'rules', 'items', 'properties', 'advice'], says: /4096 characters as JSON/ },
  { kind: 'policy', message: /^nested deeper than 64 levels$/, at: [], says: /64 levels/ },
  { kind: 'fixture', message: /^duplicate case name/, at: ['properties', 'cases', 'items', 'properties', 'name'], says: /unique/i },
  { kind: 'fixture', message: /^duplicate case name/, at: ['properties', 'groups', 'items', 'properties', 'cases', 'items', 'properties', 'name'], says: /unique/i },
  { kind: 'fixture', message: /^duplicate group name/, at: ['properties', 'groups', 'items', 'properties', 'name'], says: /unique/i },
  { kind: 'fixture', message: /names the action/, at: ['properties', 'cases', 'items', 'properties', 'request'], says: /no_applicable_rule/ },
  { kind: 'fixture', message: /so the case can never pass$/, path: /^\$\.cases\[\d+\]\.expect\.rules\[\d+\]$/, at: ['properties', 'cases', 'items', 'properties', 'expect', 'properties', 'rules'], says: /resource type.*effect.*action/ },
  { kind: 'fixture', message: /so the case can never pass$/, path: /^\$\.groups\[\d+\]\.cases\[\d+\]\.expect\.rules\[\d+\]$/, at: ['properties', 'groups', 'items', 'properties', 'cases', 'items', 'properties', 'expect', 'properties', 'rules'], says: /resource type.*effect.*action/ },
  { kind: 'fixture', message: /comes only with a deny that no rule decides/, path: /^\$\.cases\[\d+\]\.expect\.reasons\[\d+\]$/, at: ['properties', 'cases', 'items', 'properties', 'expect', 'properties', 'reasons'], says: /permit.*expect\.rules/ },
  { kind: 'fixture', message: /comes only with a deny that no rule decides/, path: /^\$\.groups\[\d+\]\.cases\[\d+\]\.expect\.reasons\[\d+\]$/, at: ['properties', 'groups', 'items', 'properties', 'cases', 'items', 'properties', 'expect', 'properties', 'reasons'], says: /permit.*expect\.rules/ },
  { kind: 'fixture', message: /^outside the timestamps conditions know/, at: ['properties', 'now'], says: /0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z in UTC/ },
  { kind: 'fixture', message: /^outside the timestamps conditions know/, at: ['properties', 'groups', 'items', 'properties', 'cases', 'items', 'properties', 'now'], says: /9999-12-31T23:59:59.999999999Z in UTC/ },
  { kind: 'fixture', message: /^(nested deeper than|array longer than|object with more than|string longer than|key longer than)/, at: ['properties', 'cases', 'items', 'properties', 'request'], says: /1000 elements per array or object, strings of 16384 characters, 64 levels/ },
  { kind: 'entities', message: /already names a|only in case or spelling|is only accents or other combining marks/, path: /\.id$/, at: ['properties', 'entities', 'items', 'properties', 'id'], says: /one entity of its type.*case, accents/ },
  { kind: 'entities', message: /already names a|only in case or spelling|is only accents or other combining marks/, path: /\.aliases\[\d+\]$/, at: ['properties', 'entities', 'items', 'properties', 'aliases'], says: /one entity of its type.*case, accents/ },
  { kind: 'entities', message: /only in case or spelling|is only accents or other combining marks/, path: /\.type$/, at: ['properties', 'entities', 'items', 'properties', 'type'], says: /more than case or spelling.*combining marks/ },
  { kind: 'entities', message: /is not one of this entity's properties/, at: ['properties', 'entities', 'items', 'properties', 'authoritative'], says: /one of `properties`/ },
  { kind: 'entities', message: /^(nested deeper than|array longer than|object with more than|string longer than|key longer than)/, at: ['properties', 'entities', 'items', 'properties', 'properties'], says: /1000 elements per array or object, strings of 16384 characters, 64 levels/ },
];

/** `issues` but those `beyondSchema`: the ones the schema of `kind` must find too. */
function schemaIssues(kind: Kind, issues: readonly PolicyIssue[]): readonly PolicyIssue[] {
  return issues.filter((issue) => !beyondSchema.some((rule) => rule.kind === kind && rule.message.test(issue.message) && (rule.path?.test(issue.path) ?? true)));
}

const runs = { numRuns: 300 };
const removals: (() => Promise<void>)[] = [];

/** A fresh directory, removed after the file's tests. */
async function scratch(): Promise<string> {
  const dir = await tempDir('pdp-schema-');
  removals.push(dir.remove);
  return dir.path;
}

const testCase = { name: 'c', request: { subject: { id: 'u' }, action: 'read', resource: { type: 'invoice' } }, expect: { decision: 'deny' } };

/** Names of every kind the name rules tell apart: empty, `*`, blank, invisible, astral, line breaks. */
const name = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 4 }),
  fc.string({ unit: 'grapheme', maxLength: 3 }),
  fc.string({ unit: fc.constantFrom('a', '*', ' ', '\u200b', '\u3164', '-', ':', '\u{1F600}', '\u0085', '\u00a0', '\ufeff', '\u180e', '\u2028'), maxLength: 3 }),
);

const digits = (max: number) => fc.integer({ min: 0, max }).map((n) => String(n).padStart(2, '0'));

/** Date-times near RFC 3339's: years 0 to 10000, out-of-range fields, other separators and offsets. */
const instant = fc
  .tuple(
    fc.oneof(fc.integer({ min: 0, max: 10_000 }).map((y) => String(y).padStart(4, '0')), fc.constantFrom('0000', '0001', '9999', '1900', '2000', '2024', '+002024')),
    digits(13), digits(32), fc.constantFrom('T', 't', ' '), digits(25), digits(60), digits(61),
    fc.constantFrom('', '.1', '.123456789', '.1234567890123', '.'),
    fc.constantFrom('Z', 'z', '', '+00:00', '-00:00', '+01:00', '-01:00', '+0100', '+01', '+23:59', '+24:00', '-12:30', '+14:00'),
  )
  .map(([y, mo, d, t, h, mi, s, f, z]) => `${y}-${mo}-${d}${t}${h}:${mi}:${s}${f}${z}`);

describe('the JSON Schemas `pdp schema` prints, against the loader', () => {
  const schemas: Record<Kind, (doc: unknown) => boolean> = { policy: () => false, fixture: () => false, entities: () => false };
  const printed: Record<Kind, Json> = { policy: null, fixture: null, entities: null };
  let shipped: CompiledPolicySet;

  beforeAll(async () => {
    for (const kind of ['policy', 'fixture', 'entities'] as const) {
      const run = await runCli(['schema', kind]);
      expect(run.code, run.stderr).toBe(0);
      printed[kind] = JSON.parse(run.stdout) as Json;
      schemas[kind] = newAjv().compile(printed[kind] as object);
    }
    shipped = await loadPolicyDir(defaultPolicyDir);
  });
  afterAll(async () => {
    for (const remove of removals) await remove();
  });

  /** What the schema and the loader make of the policy `doc`, alone in a directory. */
  async function asPolicy(dir: string, doc: Json) {
    await rm(dir, { recursive: true, force: true });
    await writeFiles(dir, { 'p.json': doc });
    const issues = schemaIssues('policy', await loadPolicyDir(dir).then(() => [], refusal));
    return { schema: schemas.policy(doc), issues };
  }

  /** What the schema and the loader make of the test file `doc`, for the shipped policies. */
  async function asTestFile(dir: string, doc: Json) {
    await rm(dir, { recursive: true, force: true });
    await writeFiles(dir, { 't.json': doc });
    const issues = schemaIssues('fixture', await loadFixtures(dir, shipped).then(() => [], refusal));
    return { schema: schemas.fixture(doc), issues };
  }

  /**
   * Checks, for `runs` documents `docs` gives, each judged by `judge` in one scratch directory,
   * that the schema accepts a document exactly when the loader finds no issue the schema must find.
   */
  async function agreeOn<T>(docs: fc.Arbitrary<T>, judge: (dir: string, doc: T) => Promise<{ schema: boolean; issues: readonly PolicyIssue[] }>) {
    const dir = await scratch();
    await fc.assert(
      fc.asyncProperty(docs, async (doc) => {
        const seen = await judge(dir, doc);
        expect(seen).toEqual({ schema: seen.issues.length === 0, issues: seen.issues });
      }),
      runs,
    );
  }

  /** What the schema and the loader make of the entity data file `doc`, beside a policy. */
  async function asEntityData(dir: string, doc: Json) {
    await rm(dir, { recursive: true, force: true });
    await writeFiles(dir, { 'p.json': docPolicy('docs', 'r1'), 'data/e.json': doc });
    const issues = schemaIssues('entities', await loadPolicyDir(dir).then(() => [], refusal));
    return { schema: schemas.entities(doc), issues };
  }

  it.for(beyondSchema)('describe what only the loader checks: $kind $message at $at', ({ kind, at: where, says }) => {
    const described = at(printed[kind], [...where, 'description']);
    expect(described).toMatch(says);
  });

  it('agree on policies near the shipped one and README\'s', { timeout: 60_000 }, async () => {
    const bases = [await readJson(join(defaultPolicyDir, 'invoices.json')), readmeExample('The format'), docPolicy('docs', 'r1') as Json];
    await agreeOn(nearValid(bases), asPolicy);
  });

  it('agree on test files near the shipped ones and README\'s', { timeout: 60_000 }, async () => {
    const tests = join(defaultPolicyDir, 'tests');
    const bases = [await readJson(join(tests, 'approve.json')), await readJson(join(tests, 'read.json')), readmeExample('Testing: fixtures and coverage')];
    await agreeOn(nearValid(bases), asTestFile);
  });

  it('agree on entity data near README\'s', { timeout: 60_000 }, async () => {
    const directory = { entities: [{ type: 'user', id: 'u-2', aliases: ['bob@example.com'], properties: { roles: [], iss: 'x', region: 'EU' }, authoritative: ['roles', 'region'] }] };
    await agreeOn(nearValid([readmeExample('Entity data'), directory]), asEntityData);
  });

  it('agree on the names entity data stores and on authoritative ones', { timeout: 60_000 }, async () => {
    const names = fc.record({ type: name, id: name, alias: name, held: fc.oneof(name, fc.constantFrom('iss', 'roles')) });
    await agreeOn(names, (dir, n) => asEntityData(dir, { entities: [{ type: n.type, id: n.id, aliases: [n.alias], properties: { roles: [], iss: 'x', [n.held]: 1 }, authoritative: [n.held] }] }));
  });

  it('agree on a test file\'s cases and groups, none, empty or some', async () => {
    const group = { name: 'g', cases: [testCase] };
    const dir = await scratch();
    const docs: Json[] = [{}, { cases: [] }, { groups: [] }, { cases: [], groups: [] }, { cases: [], groups: [group] }, { cases: [testCase], groups: [] }, { now: '2025-03-03T09:00:00Z' }];
    for (const doc of docs) {
      const seen = await asTestFile(dir, doc);
      expect(seen, JSON.stringify(doc)).toEqual({ schema: seen.issues.length === 0, issues: seen.issues });
    }
  });

  it('agree on the instants a test file sets as now', { timeout: 60_000 }, async () => {
    const dir = await scratch();
    await fc.assert(
      fc.asyncProperty(instant, async (now) => {
        const seen = await asTestFile(dir, { now, cases: [testCase] });
        expect(seen).toEqual({ schema: seen.issues.length === 0, issues: seen.issues });
      }),
      runs,
    );
  });

  it('agree on the names of policies, rules, actions, roles, scopes and requests', { timeout: 60_000 }, async () => {
    const dir = await scratch();
    const names = fc.record({ policy: name, resource: name, rule: name, action: name, role: name, scope: name, type: name, asked: name, id: name });
    await fc.assert(
      fc.asyncProperty(names, async (n) => {
        const policy = await asPolicy(dir, { id: n.policy, resource: n.resource, rules: [{ id: n.rule, effect: 'permit', actions: [n.action], roles: [n.role], scopes: [n.scope] }] });
        expect(policy).toEqual({ schema: policy.issues.length === 0, issues: policy.issues });
        const request = { subject: { id: n.id }, action: n.asked, resource: { type: n.type } };
        const tests = await asTestFile(dir, { cases: [{ name: 'c', request, expect: { decision: 'deny', reasons: ['no_applicable_rule'] } }] });
        expect(tests).toEqual({ schema: tests.issues.length === 0, issues: tests.issues });
      }),
      runs,
    );
  });
});
