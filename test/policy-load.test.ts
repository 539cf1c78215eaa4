import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compilePolicies, compilePoliciesPaced, type PolicyFile } from '../src/policy/compile.js';
import { PolicyLoadError, type PolicyIssue } from '../src/policy/errors.js';
import type { CompiledPolicySet } from '../src/policy/compiled.js';
import { evaluate } from '../src/policy/evaluate.js';
import { loadPolicyDir } from '../src/policy/load.js';
import { runCli, runServerToExit } from './helpers/process.js';
import { tempDir } from './helpers/tmp.js';
import { longestLoopHold } from './helpers/work-clock.js';

const readRule = { id: 'read', effect: 'permit', actions: ['read'] };

function policy(rules: readonly unknown[], extra: Record<string, unknown> = {}) {
  return { id: 'things', resource: 'thing', rules, ...extra };
}

/** `pdp validate --json` on a policy of `rules` alone, `a.json`: its exit code and its report. */
async function validateRules(rules: readonly unknown[]): Promise<{ readonly code: number | null; readonly report: unknown }> {
  const run = await runCli(['validate', await tempDir({ 'a.json': policy(rules) }), '--json']);
  return { code: run.code, report: JSON.parse(run.stdout) as unknown };
}

async function loadIssues(files: Readonly<Record<string, unknown>>): Promise<readonly PolicyIssue[]> {
  const dir = await tempDir(files);
  const error: unknown = await loadPolicyDir(dir).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PolicyLoadError);
  return (error as PolicyLoadError).issues;
}

describe('loadPolicyDir rejects a bad policy directory', () => {
  it('invalid JSON, naming the file', async () => {
    const issues = await loadIssues({ 'a.json': '{ "id": "a", ' });
    expect(issues).toEqual([{ file: 'a.json', path: '$', message: 'not valid JSON at line 1, column 14: the end of the text where a key in double quotes should be' }]);
  });

  it('invalid JSON, by line and column and what is wrong there, quoting none of the file', async () => {
    const text = '{\n  "id": "a",\n  "resource": "invoice",\n  "rules": [ { "id": "r1", "effect": "permit", "actions": ["read"], "description": "for alice@example.com" }, ]\n}\n';
    const issues = await loadIssues({ 'a.json': text });
    expect(issues).toEqual([{ file: 'a.json', path: '$', message: 'not valid JSON at line 4, column 111: a "," before "]": JSON has no comma after the last element' }]);
  });

  it.each([
    ['CR LF', '\r\n'],
    ['CR alone (an old Mac\'s)', '\r'],
  ])('invalid JSON with lines ending in %s, by the line and column an editor shows', async (_, end) => {
    const text = ['{', '  "id": "a",', '  "resource": "invoice",', '  "rules": [ { "id": "r1", "effect": "permit", "actions": ["read"], "description": "for alice@example.com" }, ]', '}', ''].join(end);
    const issues = await loadIssues({ 'a.json': text });
    expect(issues).toEqual([{ file: 'a.json', path: '$', message: 'not valid JSON at line 4, column 111: a "," before "]": JSON has no comma after the last element' }]);
  });

  it('an unknown field in a rule (a typo), with its path and rule id', async () => {
    const issues = await loadIssues({ 'a.json': policy([readRule, { ...readRule, id: 'r2', condtion: 'true' }]) });
    expect(issues).toEqual([{ file: 'a.json', path: '$.rules[1]', rule: 'r2', message: expect.stringContaining('condtion') }]);
  });

  // 40 rules hold 200 values: such a policy is checked a level at a time (see checkSchema).
  it.each([1, 40])('an unknown field at the top of a policy of %i rule(s)', async (count) => {
    const rules = Array.from({ length: count }, (_, i) => ({ ...readRule, id: `r${i}` }));
    const issues = await loadIssues({ 'a.json': policy(rules, { resources: 'x' }) });
    expect(issues).toEqual([{ file: 'a.json', path: '$', message: expect.stringContaining('resources') }]);
  });

  it('wrong types, each with its own path and rule id', async () => {
    const issues = await loadIssues({
      'a.json': policy([
        { id: 'r1', effect: 'allow', actions: ['read'] },
        { id: 'r2', effect: 'permit', actions: 'read' },
        { id: 'r3', effect: 'permit', actions: ['read'], roles: [] },
      ]),
    });
    expect(issues).toEqual([
      { file: 'a.json', path: '$.rules[0].effect', rule: 'r1', message: expect.stringContaining('permit') },
      { file: 'a.json', path: '$.rules[1].actions', rule: 'r2', message: expect.stringContaining('array') },
      { file: 'a.json', path: '$.rules[2].roles', rule: 'r3', message: expect.any(String) },
    ]);
  });

  it('a role or scope name holding whitespace, which no claim could ever match', async () => {
    const issues = await loadIssues({
      'a.json': policy([
        { id: 'no-ab', effect: 'deny', actions: ['read'], scopes: ['a b'] },
        { id: 'staff', effect: 'permit', actions: ['read'], roles: ['staff', 'night\tshift'] },
        { id: 'padded', effect: 'permit', actions: ['read'], scopes: [' invoice.read'] },
      ]),
    });
    expect(issues).toEqual([
      { file: 'a.json', path: '$.rules[0].scopes[0]', rule: 'no-ab', message: expect.stringContaining('no whitespace') },
      { file: 'a.json', path: '$.rules[1].roles[1]', rule: 'staff', message: expect.stringContaining('no whitespace') },
      { file: 'a.json', path: '$.rules[2].scopes[0]', rule: 'padded', message: expect.stringContaining('no whitespace') },
    ]);
  });

  it('a role or scope name with a control or invisible character, which reads like a claim it never matches', async () => {
    const issues = await loadIssues({
      'a.json': policy([
        { id: 'zero-width', effect: 'deny', actions: ['read'], roles: ['contractor\u200b'] },
        { id: 'direction', effect: 'deny', actions: ['read'], scopes: ['\u202einvoice.read'] },
        { id: 'control', effect: 'deny', actions: ['read'], roles: ['guest\u0007'] },
        { id: 'accented', effect: 'permit', actions: ['read'], roles: ['comptable-\u00e9t\u00e9'] },
        // Default-ignorable code points outside the format category: a combining grapheme
        // joiner, Hangul fillers, a Khmer inherent vowel.
        { id: 'ignorable', effect: 'deny', actions: ['read'], roles: ['admin\u034f', '\u3164admin', 'admin\u115f', 'admin\u17b4'] },
      ]),
    });
    expect(issues).toEqual([
      { file: 'a.json', path: '$.rules[0].roles[0]', rule: 'zero-width', message: expect.stringContaining('invisible characters') },
      { file: 'a.json', path: '$.rules[1].scopes[0]', rule: 'direction', message: expect.stringContaining('invisible characters') },
      { file: 'a.json', path: '$.rules[2].roles[0]', rule: 'control', message: expect.stringContaining('invisible characters') },
      ...[0, 1, 2, 3].map((i) => ({ file: 'a.json', path: `$.rules[4].roles[${String(i)}]`, rule: 'ignorable', message: expect.stringContaining('invisible characters') as unknown })),
    ]);
  });

  it('a role or scope "*", which is no wildcard: a deny rule for every role would apply to no one', async () => {
    const issues = await loadIssues({
      'a.json': policy([
        { id: 'deny-everyone', effect: 'deny', actions: ['delete'], roles: ['*'] },
        { id: 'any-scope', effect: 'permit', actions: ['read'], roles: ['reader'], scopes: ['invoice.read', '*'] },
        { id: 'starred', effect: 'permit', actions: ['read'], roles: ['*reader', 'reader*'], scopes: ['invoice.*'] },
      ]),
    });
    expect(issues).toEqual([
      { file: 'a.json', path: '$.rules[0].roles[0]', rule: 'deny-everyone', message: expect.stringContaining('leave out "roles"') },
      { file: 'a.json', path: '$.rules[1].scopes[1]', rule: 'any-scope', message: expect.stringContaining('leave out "scopes"') },
    ]);
  });

  it('a missing rule id, located by path alone', async () => {
    const issues = await loadIssues({ 'a.json': policy([{ effect: 'permit', actions: ['read'] }]) });
    expect(issues).toEqual([{ file: 'a.json', path: '$.rules[0].id', message: expect.any(String) }]);
  });

  it('a duplicate policy id across files, naming both files', async () => {
    const issues = await loadIssues({ 'a.json': policy([readRule]), 'b.json': policy([readRule]) });
    expect(issues).toEqual([{ file: 'b.json', path: '$.id', message: 'duplicate policy id "things" (also in a.json)' }]);
  });

  it('a duplicate rule id', async () => {
    const issues = await loadIssues({ 'a.json': policy([readRule, readRule]) });
    expect(issues).toEqual([{ file: 'a.json', path: '$.rules[1].id', rule: 'read', message: 'duplicate rule id "read" (also at $.rules[0].id)' }]);
  });

  it('an empty list of roles or scopes, saying to leave it out', async () => {
    const issues = await loadIssues({ 'a.json': policy([{ ...readRule, roles: [] }, { ...readRule, id: 'r2', scopes: [] }]) });
    const leaveOut = (kind: string) => `an empty list is refused: leave out "${kind}" for a rule that applies whatever the subject holds`;
    expect(issues).toEqual([
      { file: 'a.json', path: '$.rules[0].roles', rule: 'read', message: leaveOut('roles') },
      { file: 'a.json', path: '$.rules[1].scopes', rule: 'r2', message: leaveOut('scopes') },
    ]);
  });

  it('a CEL syntax error, saying where in the condition it is', async () => {
    const run = await validateRules([
      { id: 'end', effect: 'deny', actions: ['*'], condition: 'type(resource.properties.region) == string && resource.properties.region ==' },
      { id: 'assign', effect: 'deny', actions: ['*'], condition: 'type(resource.properties.status) == string && resource.properties.status = "paid" && context.mfa != true' },
      { id: 'word', effect: 'deny', actions: ['*'], condition: '"\u{1F600}" == context.s and context.b' },
    ]);
    expect(run.code).toBe(1);
    expect(run.report).toEqual({
      ok: false,
      issues: [
        { file: 'a.json', path: '$.rules[0].condition', rule: 'end', message: 'syntax: Unexpected token: EOF at the end of the condition (column 76)' },
        { file: 'a.json', path: '$.rules[1].condition', rule: 'assign', message: 'syntax: Unexpected character: = at column 74 of the condition: = "paid" && context.mfa …' },
        { file: 'a.json', path: '$.rules[2].condition', rule: 'word', message: "syntax: Unexpected character: 'd' at column 18 of the condition: and context.b" },
      ],
    });
  });

  it('a CEL type error the library words, saying where in the condition it is', async () => {
    const run = await validateRules([
      { id: 'size', effect: 'deny', actions: ['*'], condition: 'context.mfa != true && size(resource.properties.lines) > 0 && size(1) > 0' },
      { id: 'prefix', effect: 'deny', actions: ['*'], condition: 'subject.id.startsWith(1)' },
    ]);
    expect(run.code).toBe(1);
    expect(run.report).toEqual({
      ok: false,
      issues: [
        { file: 'a.json', path: '$.rules[0].condition', rule: 'size', message: "type: found no matching overload for 'size(int)' at column 63 of the condition: size(1) > 0" },
        { file: 'a.json', path: '$.rules[1].condition', rule: 'prefix', message: "type: found no matching overload for 'string.startsWith(int)' at column 1 of the condition: subject.id.startsWith(1)" },
      ],
    });
  });

  it('a CEL type error such as a misspelt variable field', async () => {
    const issues = await loadIssues({ 'a.json': policy([{ ...readRule, condition: '"admin" in subject.rolez' }]) });
    expect(issues).toEqual([{ file: 'a.json', path: '$.rules[0].condition', rule: 'read', message: expect.stringMatching(/^type: .*rolez/) }]);
  });

  it('a field read on a variable that declares none such, or a variable that does not exist, saying where to read it', async () => {
    const run = await validateRules([
      { id: 'owner', effect: 'deny', actions: ['*'], condition: 'resource.owner == subject.id' },
      { id: 'hidden', effect: 'deny', actions: ['*'], condition: '[{"owner": "a"}].exists(subject, subject.owner == "a") && action.verb == "x"' },
      { id: 'root', effect: 'deny', actions: ['*'], condition: 'subjet.id == "x"' },
      { id: 'request', effect: 'deny', actions: ['*'], condition: 'request.time < now' },
    ]);
    expect(run.code).toBe(1);
    expect(run.report).toEqual({
      ok: false,
      issues: [
        { file: 'a.json', path: '$.rules[0].condition', rule: 'owner', message: "type: No such key: owner in resource.owner; the request's other attributes are under resource.properties" },
        { file: 'a.json', path: '$.rules[1].condition', rule: 'hidden', message: "type: No such key: verb in action.verb; the request's other attributes are under action.properties" },
        { file: 'a.json', path: '$.rules[2].condition', rule: 'root', message: 'type: Unknown variable: subjet; conditions read subject, resource, action, context and now' },
        { file: 'a.json', path: '$.rules[3].condition', rule: 'request', message: 'type: Unknown variable: request; conditions read subject, resource, action, context and now' },
      ],
    });
  });

  it("cel-go's two-variable comprehensions, saying they bind one variable here and what to write, not that the first is unknown", async () => {
    const run = await validateRules([
      { id: 'all', effect: 'deny', actions: ['*'], condition: 'context.l.all(i, x, x > 0.0)' },
      { id: 'exists', effect: 'deny', actions: ['*'], condition: 'context.m.exists(k, v, v == "a")' },
      { id: 'one', effect: 'deny', actions: ['*'], condition: 'context.m.exists_one(k, v, v == "a")' },
      { id: 'filter', effect: 'deny', actions: ['*'], condition: 'size(context.l.filter(i, x, x > 0.0)) > 0' },
      { id: 'map', effect: 'deny', actions: ['*'], condition: 'size(context.l.map(i, x, x * 2.0)) > 0' },
      // map's own three-argument form, filtering by a bool element, still loads.
      { id: 'bools', effect: 'deny', actions: ['*'], condition: '[true, false].map(x, x, x) == [true]' },
    ]);
    const twoVariables = (written: string, name: string, range: string, key: string, value: string) =>
      `type: ${written} binds two variables, as cel-go's two-variable comprehensions do, which conditions do not support: ` +
      `all, exists, exists_one, map and filter bind one: write ${range}.${name}(${value}, …) for each element of a list (its index is not available), ` +
      `or ${range}.${name}(${key}, …) for each key of a map, reading its value as ${range}[${key}]`;
    expect(run.code).toBe(1);
    expect(run.report).toEqual({
      ok: false,
      issues: [
        { file: 'a.json', path: '$.rules[0].condition', rule: 'all', message: twoVariables('context.l.all(i, x, x > 0.0)', 'all', 'context.l', 'i', 'x') },
        { file: 'a.json', path: '$.rules[1].condition', rule: 'exists', message: twoVariables('context.m.exists(k, v, v == "a")', 'exists', 'context.m', 'k', 'v') },
        { file: 'a.json', path: '$.rules[2].condition', rule: 'one', message: twoVariables('context.m.exists_one(k, v, v == "a")', 'exists_one', 'context.m', 'k', 'v') },
        { file: 'a.json', path: '$.rules[3].condition', rule: 'filter', message: twoVariables('context.l.filter(i, x, x > 0.0)', 'filter', 'context.l', 'i', 'x') },
        { file: 'a.json', path: '$.rules[4].condition', rule: 'map', message: twoVariables('context.l.map(i, x, x * 2.0)', 'map', 'context.l', 'i', 'x') },
      ],
    });
  });

  it('a comprehension called without its variable and condition, saying how it is called, not that its variable is unknown', async () => {
    const run = await validateRules([
      { id: 'no-condition', effect: 'deny', actions: ['*'], condition: 'subject.roles.all(r)' },
      { id: 'extra', effect: 'deny', actions: ['*'], condition: 'subject.roles.exists(r, r == "x", true)' },
      { id: 'no-receiver', effect: 'deny', actions: ['*'], condition: 'exists_one(subject.roles, r, r == "x")' },
      { id: 'no-arguments', effect: 'deny', actions: ['*'], condition: 'subject.roles.all()' },
      { id: 'map', effect: 'deny', actions: ['*'], condition: 'size(context.l.map(x)) > 0' },
      { id: 'filter', effect: 'deny', actions: ['*'], condition: 'size(context.l.filter(x.ok)) > 0' },
    ]);
    const condition = 'a variable and a condition on it';
    expect(run.code).toBe(1);
    expect(run.report).toEqual({
      ok: false,
      issues: [
        { file: 'a.json', path: '$.rules[0].condition', rule: 'no-condition', message: `type: subject.roles.all(r) is no comprehension: all takes ${condition}: write subject.roles.all(r, …)` },
        { file: 'a.json', path: '$.rules[1].condition', rule: 'extra', message: `type: subject.roles.exists(r, r == "x", true) is no comprehension: exists takes ${condition}: write subject.roles.exists(r, …)` },
        {
          file: 'a.json', path: '$.rules[2].condition', rule: 'no-receiver',
          message: `type: exists_one(subject.roles, r, r == "x") is no comprehension: exists_one takes ${condition}, called on the list or map it visits: write subject.roles.exists_one(r, …)`,
        },
        { file: 'a.json', path: '$.rules[3].condition', rule: 'no-arguments', message: `type: subject.roles.all() is no comprehension: all takes ${condition}: write subject.roles.all(x, …)` },
        {
          file: 'a.json', path: '$.rules[4].condition', rule: 'map',
          message: 'type: context.l.map(x) is no comprehension: map takes a variable and an expression of it (or a condition on it, then an expression): write context.l.map(x, …)',
        },
        { file: 'a.json', path: '$.rules[5].condition', rule: 'filter', message: `type: context.l.filter(x.ok) is no comprehension: filter takes ${condition}: write context.l.filter(x, …)` },
      ],
    });
  });

  it('a misspelt variable field tested by has(), which was false on every request: a deny on it never applied', async () => {
    const run = await validateRules([
      { id: 'suspended', effect: 'deny', actions: ['*'], condition: 'has(subject.suspended)' },
      { id: 'frozen', effect: 'deny', actions: ['*'], condition: 'has(resource.propertie.frozen)' },
      { ...readRule, condition: 'has(subject.properties.region) && has(subject.id)' },
    ]);
    expect(run.code).toBe(1);
    expect(run.report).toEqual({
      ok: false,
      issues: [
        { file: 'a.json', path: '$.rules[0].condition', rule: 'suspended', message: "type: No such key: suspended in has(subject.suspended); the request's other attributes are under subject.properties" },
        { file: 'a.json', path: '$.rules[1].condition', rule: 'frozen', message: "type: No such key: propertie in has(resource.propertie); the request's other attributes are under resource.properties" },
      ],
    });
  });

  it('a field read from a timestamp or a duration, which failed on every request: a deny on it applied to all', async () => {
    const run = await validateRules([
      { id: 'after-hours', effect: 'deny', actions: ['*'], condition: 'now.hour < 8 || now["hour"] >= 18' },
      { id: 'recent', effect: 'deny', actions: ['*'], condition: 'has(context.since) && (now - timestamp(context.since)).seconds < 60' },
      { ...readRule, condition: 'now.getHours() >= 8 && context.items.exists(now, has(now.hour))' },
    ]);
    expect(run.code).toBe(1);
    expect(run.report).toEqual({
      ok: false,
      issues: [
        { file: 'a.json', path: '$.rules[0].condition', rule: 'after-hours', message: 'type: a timestamp has no field hour: read its parts with its getters, such as getHours() and getDayOfWeek()' },
        { file: 'a.json', path: '$.rules[1].condition', rule: 'recent', message: 'type: a duration has no field seconds: read its parts with its getters, such as getHours() and getSeconds()' },
      ],
    });
  });

  it('has() looking a field up in a value typed as no map, which failed on every request: a deny on it applied to all', async () => {
    const run = await validateRules([
      { id: 'no-admin', effect: 'deny', actions: ['*'], condition: 'has(subject.roles.admin)' },
      { id: 'delegated', effect: 'deny', actions: ['*'], condition: 'has(subject.id.act)' },
      { id: 'flagged', effect: 'deny', actions: ['*'], condition: 'subject.roles.exists(r, has(r.flag))' },
      { ...readRule, condition: 'has(subject.properties.act.sub) && has(context.a.b.c) && context.items.exists(i, has(i.id.x)) && [subject].exists(s, has(s.properties.x))' },
    ]);
    expect(run.code).toBe(1);
    expect(run.report).toEqual({
      ok: false,
      issues: [
        { file: 'a.json', path: '$.rules[0].condition', rule: 'no-admin', message: 'type: has() needs a map to look up admin in, and subject.roles has type list<string>' },
        { file: 'a.json', path: '$.rules[1].condition', rule: 'delegated', message: 'type: has() needs a map to look up act in, and subject.id has type string' },
        { file: 'a.json', path: '$.rules[2].condition', rule: 'flagged', message: 'type: has() needs a map to look up flag in, and r has type string' },
      ],
    });
  });

  it('has() looking a field up in a value a map literal holds, typed as no map', async () => {
    const run = await validateRules([
      { id: 'named', effect: 'deny', actions: ['*'], condition: '[{"name": subject.id}].exists(m, has(m.name.first))' },
      { ...readRule, condition: '[{"claims": subject.properties}].exists(m, has(m.claims.act))' },
    ]);
    expect(run.code).toBe(1);
    expect(run.report).toEqual({
      ok: false,
      issues: [{ file: 'a.json', path: '$.rules[0].condition', rule: 'named', message: 'type: has() needs a map to look up first in, and m.name has type string' }],
    });
  });

  it('a conversion of a literal, or a literal time zone, that always fails: a deny on it applied to all, a permit never did', async () => {
    const run = await validateRules([
      { id: 'stale', effect: 'deny', actions: ['*'], condition: 'now - timestamp(resource.properties.created) > duration("90d")' },
      { id: 'until-2030', effect: 'permit', actions: ['read'], condition: 'now < timestamp("2030-01-01")' },
      { id: 'night', effect: 'deny', actions: ['*'], condition: 'now.getHours("Europe/Pariss") < 6' },
      { id: 'limit', effect: 'deny', actions: ['*'], condition: 'uint(context.count) > uint(-1)' },
      { id: 'epoch', effect: 'deny', actions: ['*'], condition: 'now > timestamp(253402300800)' },
      {
        ...readRule,
        condition: 'now < timestamp("2030-01-01T00:00:00Z") && now.getHours("Europe/Paris") >= 8 && duration("2160h") > duration("0s") && int(context.n) > int("-1") && now < timestamp(253402300799) && now > timestamp(-62135596800) && uint(context.count) > uint(0)',
      },
    ]);
    expect(run.code).toBe(1);
    expect(run.report).toEqual({
      ok: false,
      issues: [
        { file: 'a.json', path: '$.rules[0].condition', rule: 'stale', message: 'value: duration("90d") is an error whatever the request: duration() requires a duration such as "1h30m" or "-1.5s", not "90d"' },
        { file: 'a.json', path: '$.rules[1].condition', rule: 'until-2030', message: 'value: timestamp("2030-01-01") is an error whatever the request: timestamp() requires an RFC 3339 date-time within years 1-9999, not "2030-01-01"' },
        { file: 'a.json', path: '$.rules[2].condition', rule: 'night', message: 'value: now.getHours("Europe/Pariss") is an error whatever the request: Invalid time zone specified: Europe/Pariss' },
        { file: 'a.json', path: '$.rules[3].condition', rule: 'limit', message: 'value: uint(-1) is an error whatever the request: uint() range error: the int is negative' },
        { file: 'a.json', path: '$.rules[4].condition', rule: 'epoch', message: 'value: timestamp(253402300800) is an error whatever the request: timestamp() requires a unix time within years 1-9999' },
      ],
    });
  });

  it('a part that reads no variable and fails, the same on every request: a deny on it applied to all, a permit never did', async () => {
    const run = await validateRules([
      { id: 'share', effect: 'deny', actions: ['*'], condition: 'context.share > 1/0' },
      { id: 'odd', effect: 'deny', actions: ['*'], condition: 'context.n == 5 % 0' },
      { id: 'region', effect: 'permit', actions: ['read'], condition: 'resource.properties.region == ["EU", "US"][5]' },
      { id: 'limit', effect: 'permit', actions: ['read'], condition: 'resource.properties.amount <= {"EU": 1000.0}["US"]' },
      { id: 'twice', effect: 'deny', actions: ['*'], condition: 'resource.properties.region in {"EU": 1, "EU": 2}' },
      { id: 'overflow', effect: 'deny', actions: ['*'], condition: 'context.n > 9223372036854775807 + 1' },
      { id: 'text', effect: 'deny', actions: ['*'], condition: 'context.code == "a" + 1' },
      { id: 'guarded', effect: 'deny', actions: ['*'], condition: 'context.off || (false && 1/0 == 1)' },
      { id: 'mapped', effect: 'deny', actions: ['*'], condition: 'context.ns.exists(n, n in [1, 2].map(x, x / 0))' },
      { id: 'grouped', effect: 'deny', actions: ['*'], condition: 'context.n < (1 + (2 / 0))' },
      {
        ...readRule,
        condition: '[1, 2, 3].map(x, x * 2) == [2, 4, 6] && context.n < 9223372036854775807 - 1 && resource.properties.amount <= {"EU": 1000.0}["EU"] && (true || 1 / 1 == 1) && context.ns.exists(n, n == 10 / 2) && now < timestamp("2030-01-01T00:00:00Z")',
      },
    ]);
    expect(run.code).toBe(1);
    expect(run.report).toEqual({
      ok: false,
      issues: [
        { file: 'a.json', path: '$.rules[0].condition', rule: 'share', message: 'value: 1/0 is an error whatever the request: division by zero' },
        { file: 'a.json', path: '$.rules[1].condition', rule: 'odd', message: 'value: 5 % 0 is an error whatever the request: modulo by zero' },
        { file: 'a.json', path: '$.rules[2].condition', rule: 'region', message: 'value: ["EU", "US"][5] is an error whatever the request: No such key: index out of bounds, index 5 >= size 2' },
        { file: 'a.json', path: '$.rules[3].condition', rule: 'limit', message: 'value: {"EU": 1000.0}["US"] is an error whatever the request: No such key: US' },
        { file: 'a.json', path: '$.rules[4].condition', rule: 'twice', message: 'value: {"EU": 1, "EU": 2} is an error whatever the request: duplicate map key: EU' },
        { file: 'a.json', path: '$.rules[5].condition', rule: 'overflow', message: 'value: 9223372036854775807 + 1 is an error whatever the request: integer overflow: 9223372036854775808' },
        { file: 'a.json', path: '$.rules[6].condition', rule: 'text', message: 'type: no such overload: string + int at column 17 of the condition: "a" + 1' },
        { file: 'a.json', path: '$.rules[7].condition', rule: 'guarded', message: 'value: 1/0 is an error whatever the request: division by zero' },
        { file: 'a.json', path: '$.rules[8].condition', rule: 'mapped', message: 'value: [1, 2].map(x, x / 0) is an error whatever the request: division by zero' },
        { file: 'a.json', path: '$.rules[9].condition', rule: 'grouped', message: 'value: 2 / 0 is an error whatever the request: division by zero' },
      ],
    });
  });

  it('a type of google.protobuf that conditions have none of, an error on every request: a deny on it applied to all', async () => {
    const issues = await loadIssues({
      'a.json': policy([
        { id: 'any', effect: 'deny', actions: ['*'], condition: 'type(context.x) != google.protobuf.Any' },
        { id: 'value', effect: 'permit', actions: ['read'], condition: 'context.lines.exists(l, type(l) == google.protobuf.Value)' },
        {
          ...readRule,
          condition: 'type(now) == google.protobuf.Timestamp && google.protobuf.Duration != type(context.x) && [{"protobuf": {"Any": string}}].exists(google, type(context.x) == google.protobuf.Any)',
        },
      ]),
    });
    const at = (index: number, rule: string, name: string) => ({
      file: 'a.json',
      path: `$.rules[${index}].condition`,
      rule,
      message: `value: google.protobuf.${name} is an error whatever the request: No such key: ${name}`,
    });
    expect(issues).toEqual([at(0, 'any', 'Any'), at(1, 'value', 'Value')]);
  });

  it('a part whose last operand is bracketed, evaluated and named as written: not as `1 - 2 + 3` for `1 - (2 + 3)`', async () => {
    const run = await validateRules([
      { id: 'overflow', effect: 'deny', actions: ['*'], condition: 'context.n == 0 - (9223372036854775807 + 1)' },
      { id: 'sum', effect: 'deny', actions: ['*'], condition: '(context.a - (context.b + context.c)) % 2 == 1' },
      { ...readRule, condition: 'int(context.n) > -9223372036854775807 - (2 + -2) && int(context.n) < 9223372036854775807 - (2 - 2)' },
    ]);
    expect(run.code).toBe(1);
    expect(run.report).toEqual({
      ok: false,
      issues: [
        { file: 'a.json', path: '$.rules[0].condition', rule: 'overflow', message: 'value: 9223372036854775807 + 1 is an error whatever the request: integer overflow: 9223372036854775808' },
        { file: 'a.json', path: '$.rules[1].condition', rule: 'sum', message: 'type: (context.a - (context.b + context.c)) % 2 mixes a value of the request, a double when it is a number, with the int 2: write int(context.a - (context.b + context.c)) % 2' },
      ],
    });
  });

  it('an int or uint literal in arithmetic with a value of the request, a double when a number: a deny on it applied to all', async () => {
    const run = await validateRules([
      { id: 'plus', effect: 'deny', actions: ['*'], condition: 'resource.properties.amount + 1 > 1000.0' },
      { id: 'minus', effect: 'deny', actions: ['*'], condition: '1 - context.x < 0.0' },
      { id: 'times', effect: 'permit', actions: ['read'], condition: 'subject.properties.limit * 2 >= resource.properties.amount' },
      { id: 'half', effect: 'deny', actions: ['*'], condition: 'context.n / 2u > 1.0' },
      { id: 'odd', effect: 'deny', actions: ['*'], condition: 'context.n % 2 == 1' },
      { id: 'lines', effect: 'deny', actions: ['*'], condition: 'context.lines.exists(l, l.amount + -1 > 0.0)' },
      { id: 'one-line', effect: 'deny', actions: ['*'], condition: 'context.lines.exists_one(l, l.amount * 2 > 0.0)' },
      { id: 'even', effect: 'deny', actions: ['*'], condition: '2 % context.n == 0' },
      {
        ...readRule,
        condition: 'size(subject.roles) + 1 > 1 && int(context.n) + 1 > 2 && int(context.n) % 2 == 0 && now.getHours() + 1 > 8 && resource.properties.amount + 1.0 > 2.0 && resource.properties.amount <= 1000 && [1, 2].exists(x, x + 1 == 3) && context.lines.exists(l, l.amount == 1)',
      },
    ]);
    expect(run.code).toBe(1);
    expect(run.report).toEqual({
      ok: false,
      issues: [
        { file: 'a.json', path: '$.rules[0].condition', rule: 'plus', message: 'type: resource.properties.amount + 1 mixes a value of the request, a double when it is a number, with the int 1: write 1.0' },
        { file: 'a.json', path: '$.rules[1].condition', rule: 'minus', message: 'type: 1 - context.x mixes a value of the request, a double when it is a number, with the int 1: write 1.0' },
        { file: 'a.json', path: '$.rules[2].condition', rule: 'times', message: 'type: subject.properties.limit * 2 mixes a value of the request, a double when it is a number, with the int 2: write 2.0' },
        { file: 'a.json', path: '$.rules[3].condition', rule: 'half', message: 'type: context.n / 2u mixes a value of the request, a double when it is a number, with the uint 2u: write 2.0' },
        { file: 'a.json', path: '$.rules[4].condition', rule: 'odd', message: 'type: context.n % 2 mixes a value of the request, a double when it is a number, with the int 2: write int(context.n) % 2' },
        { file: 'a.json', path: '$.rules[5].condition', rule: 'lines', message: 'type: l.amount + -1 mixes a value of the request, a double when it is a number, with the int -1: write -1.0' },
        { file: 'a.json', path: '$.rules[6].condition', rule: 'one-line', message: 'type: l.amount * 2 mixes a value of the request, a double when it is a number, with the int 2: write 2.0' },
        { file: 'a.json', path: '$.rules[7].condition', rule: 'even', message: 'type: 2 % context.n mixes a value of the request, a double when it is a number, with the int 2: write 2 % int(context.n)' },
      ],
    });
  });

  it('an int or uint literal in arithmetic made from values of the request, never an int: a deny on it applied to all', async () => {
    const run = await validateRules([
      { id: 'sum', effect: 'deny', actions: ['*'], condition: 'context.a + context.b + 1 > 1000.0' },
      { id: 'negated', effect: 'deny', actions: ['*'], condition: '-context.x + 1 < 0.0' },
      { id: 'chosen', effect: 'permit', actions: ['read'], condition: '(context.ok ? context.a : context.b) * 2 > 1.0' },
      { id: 'odd', effect: 'deny', actions: ['*'], condition: '(context.a + context.b) % 2 == 1' },
      { id: 'lines', effect: 'deny', actions: ['*'], condition: 'context.lines.exists(l, l.amount * l.rate - 1u > 0.0)' },
      { id: 'twice', effect: 'deny', actions: ['*'], condition: 'context.a + 1 + 1 > 0.0' },
      { id: 'under', effect: 'deny', actions: ['*'], condition: '!(-(context.a - 1) > 0.0)' },
      {
        ...readRule,
        condition: 'size(context.items) * 2 + 1 > 1 && int(context.a + context.b) % 2 == 0 && context.a + context.b > 1 && (context.ok ? context.a : 1) + 1 > 1 && -context.x + 1.0 > 0.0 && now - duration("1h") + duration("1h") <= now',
      },
    ]);
    expect(run.code).toBe(1);
    expect(run.report).toEqual({
      ok: false,
      issues: [
        { file: 'a.json', path: '$.rules[0].condition', rule: 'sum', message: 'type: context.a + context.b + 1 mixes a value of the request, a double when it is a number, with the int 1: write 1.0' },
        { file: 'a.json', path: '$.rules[1].condition', rule: 'negated', message: 'type: -context.x + 1 mixes a value of the request, a double when it is a number, with the int 1: write 1.0' },
        { file: 'a.json', path: '$.rules[2].condition', rule: 'chosen', message: 'type: (context.ok ? context.a : context.b) * 2 mixes a value of the request, a double when it is a number, with the int 2: write 2.0' },
        { file: 'a.json', path: '$.rules[3].condition', rule: 'odd', message: 'type: (context.a + context.b) % 2 mixes a value of the request, a double when it is a number, with the int 2: write int(context.a + context.b) % 2' },
        { file: 'a.json', path: '$.rules[4].condition', rule: 'lines', message: 'type: l.amount * l.rate - 1u mixes a value of the request, a double when it is a number, with the uint 1u: write 1.0' },
        // Named where it first fails, not as the whole.
        { file: 'a.json', path: '$.rules[5].condition', rule: 'twice', message: 'type: context.a + 1 mixes a value of the request, a double when it is a number, with the int 1: write 1.0' },
        { file: 'a.json', path: '$.rules[6].condition', rule: 'under', message: 'type: context.a - 1 mixes a value of the request, a double when it is a number, with the int 1: write 1.0' },
      ],
    });
  });

  it('arithmetic on int or uint literals alone, in arithmetic with a value of the request: an int too, so a deny on it applied to all', async () => {
    const run = await validateRules([
      { id: 'product', effect: 'deny', actions: ['*'], condition: '2 * 3 * context.a > 100.0' },
      { id: 'sum', effect: 'deny', actions: ['*'], condition: 'context.a - 2 * 3 > 0.0' },
      { id: 'negated', effect: 'deny', actions: ['*'], condition: '-(1 + 1) * context.a > 0.0' },
      { id: 'odd', effect: 'deny', actions: ['*'], condition: 'context.n % (1u + 1u) == 1u' },
      {
        ...readRule,
        condition: '2.0 * 3.0 * context.a > 1.0 && (1 + 1) * size(context.items) > 1 && [1, 2].exists(x, x * (1 + 1) == 4) && context.a + 1.0 * 2.0 > 0.0',
      },
    ]);
    expect(run.code).toBe(1);
    expect(run.report).toEqual({
      ok: false,
      issues: [
        { file: 'a.json', path: '$.rules[0].condition', rule: 'product', message: 'type: 2 * 3 * context.a mixes a value of the request, a double when it is a number, with the int 2 * 3: write 6.0' },
        { file: 'a.json', path: '$.rules[1].condition', rule: 'sum', message: 'type: context.a - 2 * 3 mixes a value of the request, a double when it is a number, with the int 2 * 3: write 6.0' },
        { file: 'a.json', path: '$.rules[2].condition', rule: 'negated', message: 'type: -(1 + 1) * context.a mixes a value of the request, a double when it is a number, with the int -(1 + 1): write -2.0' },
        { file: 'a.json', path: '$.rules[3].condition', rule: 'odd', message: 'type: context.n % (1u + 1u) mixes a value of the request, a double when it is a number, with the uint 1u + 1u: write uint(context.n) % (1u + 1u)' },
      ],
    });
  });

  it('an int or uint literal in arithmetic with a value of the request reached through a list or map literal, a choice or dyn(): a deny on it applied to all', async () => {
    const issues = await loadIssues({
      'a.json': policy([
        { id: 'listed', effect: 'deny', actions: ['*'], condition: '[context.a][0] + 1 > 0.0' },
        { id: 'keyed', effect: 'deny', actions: ['*'], condition: "{'k': context.a}['k'] + 1 > 0.0" },
        { id: 'field', effect: 'deny', actions: ['*'], condition: '{"k": context.a}.k * 2 > 0.0' },
        { id: 'nested', effect: 'deny', actions: ['*'], condition: '[[context.a, context.b]][0][1] - 1 > 0.0' },
        { id: 'read-from', effect: 'deny', actions: ['*'], condition: '[context][0].a + 1 > 0.0' },
        { id: 'picked', effect: 'deny', actions: ['*'], condition: '[context.a, 1][0] + 1 > 0.0' },
        { id: 'constant-choice', effect: 'deny', actions: ['*'], condition: '(true ? context.a : 0) + 1 > 0.0' },
        { id: 'other-choice', effect: 'deny', actions: ['*'], condition: '(false ? 0 : context.a) % 2 == 1' },
        { id: 'dyn', effect: 'deny', actions: ['*'], condition: 'dyn(context.a) + 1 > 0.0' },
        { id: 'ranged', effect: 'deny', actions: ['*'], condition: '[context.a, context.b].exists(x, x + 1 > 0.0)' },
        {
          ...readRule,
          condition: '[context.a, 1][1] + 1 > 1 && [context.a, 1][int(context.i)] + 1.0 > 1.0 && {"k": context.a, "j": 1}["j"] + 1 > 1 && (context.ok ? context.a : 1) + 1.0 > 1.0 && [1, 2][0] + 1 > 1 && {1: context.a}.exists(k, k + 1 > 1)',
        },
      ]),
    });
    const at = (index: number, rule: string, written: string, instead: string) => ({
      file: 'a.json',
      path: `$.rules[${index}].condition`,
      rule,
      message: `type: ${written} mixes a value of the request, a double when it is a number, with the int ${written.endsWith('2') ? '2' : '1'}: write ${instead}`,
    });
    expect(issues).toEqual([
      at(0, 'listed', '[context.a][0] + 1', '1.0'),
      at(1, 'keyed', "{'k': context.a}['k'] + 1", '1.0'),
      at(2, 'field', '{"k": context.a}.k * 2', '2.0'),
      at(3, 'nested', '[[context.a, context.b]][0][1] - 1', '1.0'),
      at(4, 'read-from', '[context][0].a + 1', '1.0'),
      at(5, 'picked', '[context.a, 1][0] + 1', '1.0'),
      at(6, 'constant-choice', '(true ? context.a : 0) + 1', '1.0'),
      at(7, 'other-choice', '(false ? 0 : context.a) % 2', 'int(false ? 0 : context.a) % 2'),
      at(8, 'dyn', 'dyn(context.a) + 1', '1.0'),
      at(9, 'ranged', 'x + 1', '1.0'),
    ]);
  });

  it('an int or uint literal in arithmetic with an element of map() or filter() over a list of the request: a deny on it applied to all', async () => {
    const issues = await loadIssues({
      'a.json': policy([
        { id: 'mapped', effect: 'deny', actions: ['*'], condition: 'context.l.map(x, x)[0] + 1 > 0.0' },
        { id: 'filtered', effect: 'deny', actions: ['*'], condition: 'context.l.filter(x, x > 0.0)[0] + 1 > 0.0' },
        { id: 'member', effect: 'deny', actions: ['*'], condition: 'context.l.map(x, x.n)[0] * 2 > 0.0' },
        { id: 'map-filter', effect: 'deny', actions: ['*'], condition: 'context.l.map(x, x > 0.0, x)[0] - 1 > 0.0' },
        { id: 'nested', effect: 'deny', actions: ['*'], condition: 'context.l.filter(x, x > 0.0).map(y, [y])[0][0] + 1 > 0.0' },
        { id: 'keys', effect: 'deny', actions: ['*'], condition: 'context.m.filter(k, k != "a")[0] + 1 > 0.0' },
        {
          ...readRule,
          condition:
            'context.l.map(x, 1)[0] + 1 > 1 && context.l.map(x, size(x))[0] + 1 > 1 && [1, 2].map(x, x)[0] + 1 > 1 && [1].map(context, context)[0] + 1 > 1 && context.l.exists(x, [1].filter(x, x > 0)[0] + 1 > 1)',
        },
      ]),
    });
    const at = (index: number, rule: string, written: string) => ({
      file: 'a.json',
      path: `$.rules[${index}].condition`,
      rule,
      message: `type: ${written} mixes a value of the request, a double when it is a number, with the int ${written.slice(-1)}: write ${written.slice(-1)}.0`,
    });
    expect(issues).toEqual([
      at(0, 'mapped', 'context.l.map(x, x)[0] + 1'),
      at(1, 'filtered', 'context.l.filter(x, x > 0.0)[0] + 1'),
      at(2, 'member', 'context.l.map(x, x.n)[0] * 2'),
      at(3, 'map-filter', 'context.l.map(x, x > 0.0, x)[0] - 1'),
      at(4, 'nested', 'context.l.filter(x, x > 0.0).map(y, [y])[0][0] + 1'),
      at(5, 'keys', 'context.m.filter(k, k != "a")[0] + 1'),
    ]);
  });

  it('an int a function makes, in arithmetic with a value of the request: an error on every request, so a deny on it applied to all', async () => {
    const run = await validateRules([
      { id: 'seats', effect: 'permit', actions: ['read'], condition: 'size(resource.properties.members) + context.invited <= resource.properties.max_members' },
      { id: 'local-hour', effect: 'deny', actions: ['*'], condition: 'now.getHours() + context.utc_offset >= 18.0' },
      { id: 'converted', effect: 'deny', actions: ['*'], condition: 'context.total - int(context.paid) > 0.0' },
      { id: 'made', effect: 'deny', actions: ['*'], condition: 'size(subject.roles) * 2 + context.extra > 10.0' },
      { id: 'odd', effect: 'deny', actions: ['*'], condition: 'int(context.a) % context.b == 1' },
      { id: 'lines', effect: 'deny', actions: ['*'], condition: 'context.lines.exists(l, l.amount * size(l.parts) > 10.0)' },
      { id: 'unsigned', effect: 'deny', actions: ['*'], condition: 'uint(context.a) + context.b > 1.0' },
      {
        ...readRule,
        condition: 'size(subject.roles) + 1 > 1 && int(context.a) + int(context.b) > 1 && double(size(context.items)) + context.extra > 1.0 && (context.ok ? size(context.items) : context.a) + context.b > 1.0 && context.a + context.b * 2.0 > 1.0 && now.getHours() < context.until',
      },
    ]);
    expect(run.code).toBe(1);
    expect(run.report).toEqual({
      ok: false,
      issues: [
        { file: 'a.json', path: '$.rules[0].condition', rule: 'seats', message: 'type: size(resource.properties.members) + context.invited mixes a value of the request, a double when it is a number, with the int size(resource.properties.members): write double(size(resource.properties.members))' },
        { file: 'a.json', path: '$.rules[1].condition', rule: 'local-hour', message: 'type: now.getHours() + context.utc_offset mixes a value of the request, a double when it is a number, with the int now.getHours(): write double(now.getHours())' },
        { file: 'a.json', path: '$.rules[2].condition', rule: 'converted', message: 'type: context.total - int(context.paid) mixes a value of the request, a double when it is a number, with the int int(context.paid): write double(int(context.paid))' },
        { file: 'a.json', path: '$.rules[3].condition', rule: 'made', message: 'type: size(subject.roles) * 2 + context.extra mixes a value of the request, a double when it is a number, with the int size(subject.roles) * 2: write double(size(subject.roles) * 2)' },
        { file: 'a.json', path: '$.rules[4].condition', rule: 'odd', message: 'type: int(context.a) % context.b mixes a value of the request, a double when it is a number, with the int int(context.a): write int(context.a) % int(context.b)' },
        { file: 'a.json', path: '$.rules[5].condition', rule: 'lines', message: 'type: l.amount * size(l.parts) mixes a value of the request, a double when it is a number, with the int size(l.parts): write double(size(l.parts))' },
        { file: 'a.json', path: '$.rules[6].condition', rule: 'unsigned', message: 'type: uint(context.a) + context.b mixes a value of the request, a double when it is a number, with the uint uint(context.a): write double(uint(context.a))' },
      ],
    });
  });

  it('arithmetic on int or uint literals alone reckoned as CEL does: a quotient toward zero, a remainder, and an overflow refused as such', async () => {
    const run = await validateRules([
      { id: 'half', effect: 'deny', actions: ['*'], condition: 'context.a * (7 / 2) > 0.0' },
      { id: 'negative-half', effect: 'deny', actions: ['*'], condition: 'context.a * (-7 / 2) > 0.0' },
      { id: 'rest', effect: 'deny', actions: ['*'], condition: 'context.a * (7 % 4) > 0.0' },
      { id: 'past-max', effect: 'deny', actions: ['*'], condition: 'context.a * (9223372036854775807 + 1) > 0.0' },
      { id: 'below-zero', effect: 'deny', actions: ['*'], condition: 'context.a * (1u - 2u) > 0.0' },
      { id: 'by-zero', effect: 'deny', actions: ['*'], condition: 'context.a * (1 / 0) > 0.0' },
      { id: 'int-max', effect: 'deny', actions: ['*'], condition: 'context.a * (9223372036854775806 + 1) > 0.0' },
      { id: 'int-min', effect: 'deny', actions: ['*'], condition: 'context.a * -9223372036854775808 > 0.0' },
      { id: 'uint-max', effect: 'deny', actions: ['*'], condition: 'context.a * (18446744073709551614u + 1u) > 0.0' },
    ]);
    expect(run.code).toBe(1);
    expect(run.report).toEqual({
      ok: false,
      issues: [
        { file: 'a.json', path: '$.rules[0].condition', rule: 'half', message: 'type: context.a * (7 / 2) mixes a value of the request, a double when it is a number, with the int 7 / 2: write 3.0' },
        { file: 'a.json', path: '$.rules[1].condition', rule: 'negative-half', message: 'type: context.a * (-7 / 2) mixes a value of the request, a double when it is a number, with the int -7 / 2: write -3.0' },
        { file: 'a.json', path: '$.rules[2].condition', rule: 'rest', message: 'type: context.a * (7 % 4) mixes a value of the request, a double when it is a number, with the int 7 % 4: write 3.0' },
        { file: 'a.json', path: '$.rules[3].condition', rule: 'past-max', message: 'value: 9223372036854775807 + 1 is an error whatever the request: integer overflow: 9223372036854775808' },
        { file: 'a.json', path: '$.rules[4].condition', rule: 'below-zero', message: 'value: 1u - 2u is an error whatever the request: Unsigned integer overflow' },
        { file: 'a.json', path: '$.rules[5].condition', rule: 'by-zero', message: 'value: 1 / 0 is an error whatever the request: division by zero' },
        // The bounds of each type are in it.
        { file: 'a.json', path: '$.rules[6].condition', rule: 'int-max', message: 'type: context.a * (9223372036854775806 + 1) mixes a value of the request, a double when it is a number, with the int 9223372036854775806 + 1: write 9223372036854775807.0' },
        { file: 'a.json', path: '$.rules[7].condition', rule: 'int-min', message: 'type: context.a * -9223372036854775808 mixes a value of the request, a double when it is a number, with the int -9223372036854775808: write -9223372036854775808.0' },
        { file: 'a.json', path: '$.rules[8].condition', rule: 'uint-max', message: 'type: context.a * (18446744073709551614u + 1u) mixes a value of the request, a double when it is a number, with the uint 18446744073709551614u + 1u: write 18446744073709551615.0' },
      ],
    });
  });

  it('a value of the request used as a timestamp or a duration, which JSON never is: a deny on it applied to all', async () => {
    const run = await validateRules([
      { id: 'overdue', effect: 'deny', actions: ['*'], condition: 'resource.properties.due < now' },
      { id: 'recent', effect: 'deny', actions: ['*'], condition: 'now - timestamp(context.since) < context.grace' },
      { id: 'night', effect: 'deny', actions: ['*'], condition: 'context.logins.exists(t, t.getHours() < 6)' },
      // Named as CEL reads it, not as the parser's span of it (`context).due`).
      { id: 'bracketed', effect: 'deny', actions: ['*'], condition: '(context).due < now' },
      { id: 'negated', effect: 'permit', actions: ['read'], condition: '!(resource.properties.due < now)' },
      { ...readRule, condition: 'timestamp(resource.properties.due) >= now && context.logins.map(t, timestamp(t)).all(t, t < now) && [now].exists(context, context <= now) && now != context.at' },
    ]);
    expect(run.code).toBe(1);
    expect(run.report).toEqual({
      ok: false,
      issues: [
        { file: 'a.json', path: '$.rules[0].condition', rule: 'overdue', message: 'type: resource.properties.due, a value of the request, is never a timestamp: read it with timestamp(resource.properties.due)' },
        { file: 'a.json', path: '$.rules[1].condition', rule: 'recent', message: 'type: context.grace, a value of the request, is never a duration: read it with duration(context.grace)' },
        { file: 'a.json', path: '$.rules[2].condition', rule: 'night', message: 'type: t, a value of the request, is never a timestamp: read it with timestamp(t)' },
        { file: 'a.json', path: '$.rules[3].condition', rule: 'bracketed', message: 'type: context.due, a value of the request, is never a timestamp: read it with timestamp(context.due)' },
        { file: 'a.json', path: '$.rules[4].condition', rule: 'negated', message: 'type: resource.properties.due, a value of the request, is never a timestamp: read it with timestamp(resource.properties.due)' },
      ],
    });
  });

  it('the type of a value of the request compared with int or uint, which a JSON number never is: always false (true for !=)', async () => {
    const run = await validateRules([
      { id: 'whole', effect: 'permit', actions: ['read'], condition: 'type(resource.properties.qty) == int' },
      { id: 'not-uint', effect: 'deny', actions: ['*'], condition: 'type(context.n) != uint' },
      { id: 'reversed', effect: 'permit', actions: ['read'], condition: 'int == type(context.n)' },
      { id: 'lines', effect: 'deny', actions: ['*'], condition: 'context.lines.exists(l, !(type(l.qty) == int))' },
      {
        ...readRule,
        condition: 'type(resource.properties.qty) == double && resource.properties.qty == double(int(resource.properties.qty)) && type(int(context.n)) == int && type(size(context.items)) == int && [1, 2].exists(x, type(x) == int) && type(context.s) != string',
      },
    ]);
    expect(run.code).toBe(1);
    expect(run.report).toEqual({
      ok: false,
      issues: [
        { file: 'a.json', path: '$.rules[0].condition', rule: 'whole', message: 'type: type(resource.properties.qty) == int is false on every request: resource.properties.qty, a value of the request, is a double when it is a number, never an int: write type(resource.properties.qty) == double, or for a whole number resource.properties.qty == double(int(resource.properties.qty))' },
        { file: 'a.json', path: '$.rules[1].condition', rule: 'not-uint', message: 'type: type(context.n) != uint is true on every request: context.n, a value of the request, is a double when it is a number, never a uint: write type(context.n) != double, or for a number that is not whole context.n != double(int(context.n))' },
        { file: 'a.json', path: '$.rules[2].condition', rule: 'reversed', message: 'type: int == type(context.n) is false on every request: context.n, a value of the request, is a double when it is a number, never an int: write type(context.n) == double, or for a whole number context.n == double(int(context.n))' },
        { file: 'a.json', path: '$.rules[3].condition', rule: 'lines', message: 'type: type(l.qty) == int is false on every request: l.qty, a value of the request, is a double when it is a number, never an int: write type(l.qty) == double, or for a whole number l.qty == double(int(l.qty))' },
      ],
    });
  });

  it('the type of a value of the request compared with google.protobuf.Timestamp or Duration, which JSON never is: always false (true for !=)', async () => {
    const issues = await loadIssues({
      'a.json': policy([
        { id: 'stamped', effect: 'permit', actions: ['read'], condition: 'type(context.at) == google.protobuf.Timestamp' },
        { id: 'not-stamped', effect: 'deny', actions: ['*'], condition: 'type(resource.properties.due) != google.protobuf.Timestamp' },
        { id: 'lasting', effect: 'permit', actions: ['read'], condition: 'google.protobuf.Duration == type(context.ttl)' },
        { id: 'lines', effect: 'deny', actions: ['*'], condition: 'context.lines.exists(l, type(l.at) == google.protobuf.Timestamp)' },
        {
          ...readRule,
          condition: 'type(now) == google.protobuf.Timestamp && type(timestamp(context.at)) == google.protobuf.Timestamp && type(now - now) == google.protobuf.Duration && type(context.at) == string && [{"protobuf": {"Timestamp": string}}].exists(google, type(context.at) == google.protobuf.Timestamp)',
        },
      ]),
    });
    expect(issues).toEqual([
      { file: 'a.json', path: '$.rules[0].condition', rule: 'stamped', message: 'type: type(context.at) == google.protobuf.Timestamp is false on every request: context.at, a value of the request, is JSON, never a timestamp: one sent as text is a string: write type(context.at) == string, and read it with timestamp(context.at)' },
      { file: 'a.json', path: '$.rules[1].condition', rule: 'not-stamped', message: 'type: type(resource.properties.due) != google.protobuf.Timestamp is true on every request: resource.properties.due, a value of the request, is JSON, never a timestamp: one sent as text is a string: write type(resource.properties.due) != string' },
      { file: 'a.json', path: '$.rules[2].condition', rule: 'lasting', message: 'type: google.protobuf.Duration == type(context.ttl) is false on every request: context.ttl, a value of the request, is JSON, never a duration: one sent as text is a string: write type(context.ttl) == string, and read it with duration(context.ttl)' },
      { file: 'a.json', path: '$.rules[3].condition', rule: 'lines', message: 'type: type(l.at) == google.protobuf.Timestamp is false on every request: l.at, a value of the request, is JSON, never a timestamp: one sent as text is a string: write type(l.at) == string, and read it with timestamp(l.at)' },
    ]);
  });

  it('a timestamp getter compared with a number it never returns: a deny for December on getMonth() == 12 never applied', async () => {
    const issues = await loadIssues({
      'a.json': policy([
        { id: 'december', effect: 'deny', actions: ['*'], condition: 'now.getMonth() == 12' },
        { id: 'weekend', effect: 'deny', actions: ['*'], condition: 'now.getDayOfWeek("Europe/Berlin") in [6, 7]' },
        { id: 'not-first', effect: 'deny', actions: ['*'], condition: '0 != now.getDate()' },
        { id: 'midnight', effect: 'permit', actions: ['read'], condition: 'timestamp(context.at).getHours() == 24' },
        { id: 'minute', effect: 'permit', actions: ['read'], condition: 'context.ok || now.getMinutes() in [0, -1]' },
        {
          ...readRule,
          condition: 'now.getMonth() == 11 && now.getDayOfWeek() in [0, 6] && now.getDate() == 31 && now.getDayOfMonth() == 0 && now.getDayOfYear() == 365 && now.getHours() == 23 && now.getMilliseconds() != 999 && now.getFullYear() == 9999 && duration(context.ttl).getHours() == 48 && [12].exists(m, m == now.getMonth() - 1 + 1)',
        },
      ]),
    });
    expect(issues).toEqual([
      { file: 'a.json', path: '$.rules[0].condition', rule: 'december', message: 'value: now.getMonth() == 12 is false on every request: getMonth() is never 12, it counts from 0 (January) to 11 (December)' },
      { file: 'a.json', path: '$.rules[1].condition', rule: 'weekend', message: 'value: now.getDayOfWeek("Europe/Berlin") in [6, 7] never finds 7: getDayOfWeek() counts from 0 (Sunday) to 6 (Saturday)' },
      { file: 'a.json', path: '$.rules[2].condition', rule: 'not-first', message: 'value: 0 != now.getDate() is true on every request: getDate() is never 0, it counts from 1 to 31 (getDayOfMonth() counts from 0)' },
      { file: 'a.json', path: '$.rules[3].condition', rule: 'midnight', message: 'value: timestamp(context.at).getHours() == 24 is false on every request: getHours() is never 24, it counts from 0 to 23' },
      { file: 'a.json', path: '$.rules[4].condition', rule: 'minute', message: 'value: now.getMinutes() in [0, -1] never finds -1: getMinutes() counts from 0 to 59' },
    ]);
  });

  it('the resource type or action name compared with one the rule is never evaluated for: a deny on action.name == "write" in a rule for "read" never applied', async () => {
    const issues = await loadIssues({
      'a.json': policy([
        { id: 'cased', effect: 'permit', actions: ['read'], condition: 'resource.type == "Thing"' },
        { id: 'other', effect: 'deny', actions: ['*'], condition: 'context.ok && resource.type == "invoice"' },
        { id: 'write', effect: 'deny', actions: ['read'], condition: 'action.name == "write"' },
        { id: 'not-write', effect: 'deny', actions: ['read', 'list'], condition: '"write" != action.name' },
        { id: 'listed', effect: 'permit', actions: ['read'], condition: '!(action.name in ["Read", "write"])' },
        { id: 'lines', effect: 'deny', actions: ['read'], condition: 'context.lines.exists(l, l.ok && resource["type"] == \'things\')' },
        {
          ...readRule,
          condition: 'resource.type == "thing" && action.name == "read" && action.name in ["read", "write"] && action.name in [context.a, "write"] && action.name in [] && resource.properties.type == "x" && action.properties.name != "write" && subject.type != "thing" && [{"name": "write", "type": "x"}].exists(action, action.name == "write") && [{"type": "x"}].all(resource, resource.type == "x")',
        },
        { id: 'any', effect: 'permit', actions: ['*'], condition: 'action.name == "write" || action.name in ["a", "b"]' },
      ]),
      'b.json': { id: 'invoices', resource: 'invoice', rules: [{ id: 'thing', effect: 'permit', actions: ['approve'], condition: 'resource.type in ["thing"] || action.name == "read"' }] },
    });
    expect(issues).toEqual([
      { file: 'a.json', path: '$.rules[0].condition', rule: 'cased', message: 'value: resource.type == "Thing" is false on every request: this rule is evaluated for resource type "thing" alone, its policy\'s, and resource types are case-sensitive: write "thing"' },
      { file: 'a.json', path: '$.rules[1].condition', rule: 'other', message: 'value: resource.type == "invoice" is false on every request: this rule is evaluated for resource type "thing" alone, its policy\'s: put the rule in a policy for "invoice", or leave the comparison out' },
      { file: 'a.json', path: '$.rules[2].condition', rule: 'write', message: 'value: action.name == "write" is false on every request: this rule is evaluated for the action "read" alone, its actions: add "write" to its actions, or leave the comparison out' },
      { file: 'a.json', path: '$.rules[3].condition', rule: 'not-write', message: 'value: "write" != action.name is true on every request: this rule is evaluated for the actions "read" and "list" alone, its actions: add "write" to its actions, or leave the comparison out' },
      { file: 'a.json', path: '$.rules[4].condition', rule: 'listed', message: 'value: action.name in ["Read", "write"] is false on every request: this rule is evaluated for the action "read" alone, its actions, and action names are case-sensitive: write "read"' },
      { file: 'a.json', path: '$.rules[5].condition', rule: 'lines', message: 'value: resource["type"] == \'things\' is false on every request: this rule is evaluated for resource type "thing" alone, its policy\'s: put the rule in a policy for "things", or leave the comparison out' },
      { file: 'b.json', path: '$.rules[0].condition', rule: 'thing', message: 'value: resource.type in ["thing"] is false on every request: this rule is evaluated for resource type "invoice" alone, its policy\'s: put the rule in a policy for "thing", or leave the comparison out' },
    ]);
  });

  it('the type of a value of the request compared with any other type JSON never has: always false (true for !=)', async () => {
    const issues = await loadIssues({
      'a.json': policy([
        { id: 'bytes', effect: 'permit', actions: ['read'], condition: 'type(context.x) == bytes' },
        { id: 'type', effect: 'deny', actions: ['*'], condition: 'type(context.x) != type' },
        { id: 'now', effect: 'permit', actions: ['read'], condition: 'type(context.at) == type(now)' },
        { id: 'one', effect: 'permit', actions: ['read'], condition: 'type(1) == type(context.n)' },
        { id: 'hours', effect: 'permit', actions: ['read'], condition: 'type(context.n) == type(now.getHours())' },
        { id: 'written', effect: 'permit', actions: ['read'], condition: 'type(context.x) == type(b"a")' },
        { id: 'type-of', effect: 'permit', actions: ['read'], condition: 'type(context.x) == type(type(context.y))' },
        { id: 'lines', effect: 'deny', actions: ['*'], condition: 'context.lines.exists(l, type(l) == bytes)' },
        {
          ...readRule,
          condition:
            'type(context.x) == type(1.0) && type(context.x) != type("") && type(context.x) != type(null) && type(context.x) != null_type && type(context.x) != type([1]) && type(context.x) != type({1: 2}) && type(context.x) != list && type(context.x) != map && type(context.x) != bool && type(context.x) == type(context.y)',
        },
        { ...readRule, id: 'shadowed', condition: '[double].exists(int, type(context.x) == int) && [string].exists(bytes, type(context.s) == bytes) && [double].exists(type, type == type(context.x))' },
      ]),
    });
    const json = (index: number, rule: string, written: string, value: string, type: string, outcome = 'false') => ({
      file: 'a.json',
      path: `$.rules[${index}].condition`,
      rule,
      message: `type: ${written} is ${outcome} on every request: ${value}, a value of the request, is JSON, never of type ${type}: the type of a JSON value is null_type, bool, double, string, list or map`,
    });
    expect(issues).toEqual([
      json(0, 'bytes', 'type(context.x) == bytes', 'context.x', 'bytes'),
      json(1, 'type', 'type(context.x) != type', 'context.x', 'type', 'true'),
      { file: 'a.json', path: '$.rules[2].condition', rule: 'now', message: 'type: type(context.at) == type(now) is false on every request: context.at, a value of the request, is JSON, never a timestamp: one sent as text is a string: write type(context.at) == string, and read it with timestamp(context.at)' },
      { file: 'a.json', path: '$.rules[3].condition', rule: 'one', message: 'type: type(1) == type(context.n) is false on every request: context.n, a value of the request, is a double when it is a number, never an int: write type(context.n) == double, or for a whole number context.n == double(int(context.n))' },
      { file: 'a.json', path: '$.rules[4].condition', rule: 'hours', message: 'type: type(context.n) == type(now.getHours()) is false on every request: context.n, a value of the request, is a double when it is a number, never an int: write type(context.n) == double, or for a whole number context.n == double(int(context.n))' },
      json(5, 'written', 'type(context.x) == type(b"a")', 'context.x', 'bytes'),
      json(6, 'type-of', 'type(context.x) == type(type(context.y))', 'context.x', 'type'),
      json(7, 'lines', 'type(l) == bytes', 'l', 'bytes'),
    ]);
  });

  it('the type of a value of the request looked up in a list of types JSON never has: always false', async () => {
    const issues = await loadIssues({
      'a.json': policy([
        { id: 'whole', effect: 'permit', actions: ['read'], condition: 'type(context.n) in [int, uint]' },
        { id: 'one', effect: 'permit', actions: ['read'], condition: 'context.lines.exists(l, type(l.q) in [int])' },
        { id: 'odd', effect: 'deny', actions: ['*'], condition: '!(type(context.x) in [bytes, google.protobuf.Timestamp, bytes])' },
        { ...readRule, condition: 'type(context.n) in [int, double] && type(context.x) in [context.t] && [double].exists(int, type(context.n) in [int]) && type(context.n) in []' },
      ]),
    });
    expect(issues).toEqual([
      { file: 'a.json', path: '$.rules[0].condition', rule: 'whole', message: 'type: type(context.n) in [int, uint] is false on every request: context.n, a value of the request, is a double when it is a number, never an int or a uint: write type(context.n) == double, or for a whole number context.n == double(int(context.n))' },
      { file: 'a.json', path: '$.rules[1].condition', rule: 'one', message: 'type: type(l.q) in [int] is false on every request: l.q, a value of the request, is a double when it is a number, never an int: write type(l.q) == double, or for a whole number l.q == double(int(l.q))' },
      { file: 'a.json', path: '$.rules[2].condition', rule: 'odd', message: 'type: type(context.x) in [bytes, google.protobuf.Timestamp, bytes] is false on every request: context.x, a value of the request, is JSON, never of type bytes or google.protobuf.Timestamp: the type of a JSON value is null_type, bool, double, string, list or map' },
    ]);
  });

  it('the type of a timestamp or a duration is google.protobuf.Timestamp or Duration, as in cel-go', async () => {
    const set = await loadPolicyDir(await tempDir({
      'a.json': policy([{ ...readRule, condition: 'type(now) == google.protobuf.Timestamp && type(timestamp(context.at)) == google.protobuf.Timestamp && type(duration(context.ttl)) == google.protobuf.Duration && type(now) != google.protobuf.Duration' }]),
    }));
    const ask = (context: Record<string, unknown>) => evaluate(set, {
      subject: { type: 'user', id: 'u', roles: [], scopes: [], aliases: [], properties: {} },
      action: { name: 'read', properties: {} },
      resource: { type: 'thing', id: 'x', properties: {} },
      context,
    }, new Date()).decision;
    expect(ask({ at: '2030-01-01T00:00:00Z', ttl: '1h' })).toBe('permit');
  });

  it('has() on a comprehension variable named as a declared one, which is that element', async () => {
    const dir = await tempDir({ 'a.json': policy([{ ...readRule, condition: 'context.items.exists(subject, has(subject.suspended))' }]) });
    const run = await runCli(['validate', dir]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
  });

  it('a misspelt variable field tested by has() in the list a comprehension ranges over', async () => {
    const run = await validateRules([{ id: 'flagged', effect: 'deny', actions: ['*'], condition: '[has(subject.suspended), has(subject.properties.locked)].exists(f, f)' }]);
    expect(run.code).toBe(1);
    expect(run.report).toEqual({
      ok: false,
      issues: [{ file: 'a.json', path: '$.rules[0].condition', rule: 'flagged', message: "type: No such key: suspended in has(subject.suspended); the request's other attributes are under subject.properties" }],
    });
  });

  it('a condition that is not a bool', async () => {
    const issues = await loadIssues({ 'a.json': policy([{ ...readRule, condition: 'size(subject.roles)' }]) });
    expect(issues).toEqual([{ file: 'a.json', path: '$.rules[0].condition', rule: 'read', message: expect.stringContaining('must be a bool') }]);
  });

  it('a function off the allowlist (matches: backtracking regexes)', async () => {
    const issues = await loadIssues({ 'a.json': policy([{ ...readRule, condition: 'subject.id.matches("^(a+)+$")' }]) });
    expect(issues).toEqual([{ file: 'a.json', path: '$.rules[0].condition', rule: 'read', message: 'function not allowed: matches (regular expressions are not allowed, as they would run backtracking: write startsWith, endsWith or contains)' }]);
  });

  it("cel-go's extension functions, named as written, with what to write where there is a plain form", async () => {
    const run = await validateRules([
      { id: 'sets', effect: 'deny', actions: ['*'], condition: 'sets.contains(subject.roles, ["a"])' },
      { id: 'meet', effect: 'deny', actions: ['*'], condition: 'sets.intersects(subject.roles, ["a"])' },
      { id: 'math', effect: 'deny', actions: ['*'], condition: 'math.greatest(context.a, context.b) > 1.0' },
      { id: 'one', effect: 'deny', actions: ['*'], condition: 'context.l.existsOne(x, x > 0.0)' },
      { id: 'quote', effect: 'deny', actions: ['*'], condition: 'strings.quote(context.s) == ""' },
      // A comprehension variable named as a namespace is a value, its calls checked as any other.
      { id: 'bound', effect: 'permit', actions: ['read'], condition: '["ab"].exists(sets, sets.contains(subject.id))' },
    ]);
    expect(run.code).toBe(1);
    expect(run.report).toEqual({
      ok: false,
      issues: [
        { file: 'a.json', path: '$.rules[0].condition', rule: 'sets', message: 'function not allowed: sets.contains (for sets.contains(a, b) write b.all(x, x in a))' },
        { file: 'a.json', path: '$.rules[1].condition', rule: 'meet', message: 'function not allowed: sets.intersects (for sets.intersects(a, b) write b.exists(x, x in a))' },
        { file: 'a.json', path: '$.rules[2].condition', rule: 'math', message: 'function not allowed: math.greatest (for math.greatest(a, b) write a > b ? a : b)' },
        { file: 'a.json', path: '$.rules[3].condition', rule: 'one', message: 'function not allowed: existsOne (write exists_one)' },
        { file: 'a.json', path: '$.rules[4].condition', rule: 'quote', message: 'function not allowed: strings.quote' },
      ],
    });
  });

  it('a function misspelt, or named as another language names it, with the function to write', async () => {
    const conditions = {
      case: 'context.s.startswith("RC-")',
      typo: 'context.s.endWith("-x")',
      js: 'context.s.toLowerCase() == "x"',
      length: 'len(subject.roles) > 1',
      now: 'now() > timestamp(context.t)',
      year: 'now.getYear() == 2026',
      regex: 'context.s.matches("^RC-")',
    };
    const run = await validateRules(Object.entries(conditions).map(([id, condition]) => ({ id, effect: 'deny', actions: ['*'], condition })));
    expect(run.code).toBe(1);
    expect((run.report as { issues: { rule: string; message: string }[] }).issues.map(({ rule, message }) => [rule, message])).toEqual([
      ['case', 'function not allowed: startswith (write startsWith)'],
      ['typo', 'function not allowed: endWith (write endsWith)'],
      ['js', 'function not allowed: toLowerCase (write lowerAscii)'],
      ['length', 'function not allowed: len (write size)'],
      ['now', 'function not allowed: now (now is a timestamp, not a function: write now)'],
      ['year', 'function not allowed: getYear (write getFullYear)'],
      ['regex', 'function not allowed: matches (regular expressions are not allowed, as they would run backtracking: write startsWith, endsWith or contains)'],
    ]);
  });

  it('an empty directory', async () => {
    const dir = await tempDir();
    await expect(loadPolicyDir(dir)).rejects.toMatchObject({ issues: [{ file: dir, path: '$', message: 'no policy files (*.json) found' }] });
  });

  it('a directory that does not exist', async () => {
    const dir = `${await tempDir()}/missing`;
    await expect(loadPolicyDir(dir)).rejects.toMatchObject({ issues: [{ file: dir, message: expect.stringMatching(/^cannot read policy directory/) }] });
  });

  it('reports the problems of every file in one error', async () => {
    const issues = await loadIssues({ 'a.json': '[', 'b.json': policy([{ ...readRule, condition: 'nope(' }]), 'c.json': policy([{ ...readRule, id: 'read-other' }], { id: 'other' }) });
    expect(issues.map((i) => i.file)).toEqual(['a.json', 'b.json']);
  });

  it('ignores *.schema.json, other extensions and subdirectories', async () => {
    const dir = await tempDir({ 'a.json': policy([readRule]), 'policy.schema.json': '{', 'notes.txt': 'x' });
    const set = await loadPolicyDir(dir);
    expect(set.policies.map((p) => p.id)).toEqual(['things']);
  });
});

describe('loadPolicyDir: conditions', () => {
  it('reports a condition that does not compile at each rule that has it, in every file', async () => {
    const bad = { ...readRule, condition: 'resource.properties.region ==' };
    const issues = await loadIssues({ 'a.json': policy([bad, { ...bad, id: 'read-2' }]), 'b.json': policy([{ ...bad, id: 'read-3' }], { id: 'other' }) });
    expect(issues.map((i) => `${i.file} ${i.path} ${i.rule}`)).toEqual(['a.json $.rules[0].condition read', 'a.json $.rules[1].condition read-2', 'b.json $.rules[0].condition read-3']);
  });

  it('decides by each rule\'s own condition where rules share one text', async () => {
    const shared = 'resource.properties.region == "EU"';
    const set = await loadPolicyDir(await tempDir({
      'a.json': policy([{ ...readRule, condition: shared }, { id: 'no-export', effect: 'deny', actions: ['read'], condition: `${shared} && has(context.export) && context.export == true` }]),
      'b.json': { id: 'other', resource: 'gadget', rules: [{ ...readRule, condition: shared }] },
    }));
    const ask = (type: string, region: string, context: Record<string, unknown> = {}) => evaluate(set, {
      subject: { type: 'user', id: 'u', roles: [], scopes: [], aliases: [], properties: {} },
      action: { name: 'read', properties: {} },
      resource: { type, id: 'x', properties: { region } },
      context,
    }, new Date()).decision;
    expect([ask('thing', 'EU'), ask('thing', 'US'), ask('gadget', 'EU'), ask('thing', 'EU', { export: true })]).toEqual(['permit', 'deny', 'permit', 'deny']);
  });

  /** `compilePoliciesPaced(files)`, and how many turns the event loop made while it ran. */
  async function compiledCountingTurns(files: readonly PolicyFile[]): Promise<{ set: CompiledPolicySet; turns: number }> {
    let turns = 0;
    let done = false;
    const compiling = compilePoliciesPaced(files).finally(() => {
      done = true;
    });
    const tick = (): void => {
      if (done) return;
      turns += 1;
      setImmediate(tick);
    };
    setImmediate(tick);
    return { set: await compiling, turns };
  }

  it('compiles them ahead in slices, letting the event loop turn in between', async () => {
    // 2,000 distinct conditions: tens of milliseconds of compiling, which a reload does while
    // the service answers requests on the policies in force.
    const rules = Array.from({ length: 2000 }, (_, i) => ({ ...readRule, effect: 'permit' as const, id: `r${i}`, condition: `resource.properties.n == ${i}.0 && subject.properties.level >= ${i % 5}.0` }));
    const files: PolicyFile[] = [{ file: 'a.json', policy: { id: 'things', resource: 'thing', rules } }];
    const { set, turns } = await compiledCountingTurns(files);
    expect(set.ruleCount).toBe(2000);
    expect(turns).toBeGreaterThan(1);
  });

  it('hashes the version and indexes in slices too, for sets without conditions', async () => {
    // 20,000 rules over 500 resource types: tens of milliseconds of hashing and indexing.
    const files: PolicyFile[] = Array.from({ length: 500 }, (_, t) => ({
      file: `t${t}.json`,
      policy: { id: `p${t}`, resource: `type${t}`, rules: Array.from({ length: 40 }, (_, i) => ({ ...readRule, effect: 'permit' as const, id: `r${i}`, actions: [`a${i % 7}`], roles: [`role${i}`] })) },
    }));
    const { version } = compilePolicies(files);
    const { set, turns } = await compiledCountingTurns(files);
    expect([set.ruleCount, set.version]).toEqual([20_000, version]);
    expect(turns).toBeGreaterThan(1);
  });

  // The compiling below takes 0.5-2.5 s alone and four to eight times that beside other test
  // files on two cores, past vitest's 20 s for the costing: these tests have a minute. Their
  // bounds are on the work clock, which leaves the wait for a core out.
  /**
   * The longest the event loop went without a turn while `compilePoliciesPaced(files)` ran (on
   * the work clock, the collector's pauses left out), what it threw, and what it may be: `ms`, or
   * `share` of the whole compiling where that is more. Where the work runs slower, on a host whose
   * other work slows this process's core too, so does its whole, and the share holds; work done
   * in one piece is past both. Compiled again, up to three times, while past both.
   */
  async function longestGapCompiling(files: readonly PolicyFile[], bound: { readonly ms: number; readonly share: number }): Promise<{ longest: number; limit: number; error: unknown }> {
    let best: { longest: number; limit: number; error: unknown } | undefined;
    for (let tries = 0; tries < 3 && (best === undefined || best.longest >= best.limit); tries += 1) {
      const { longest, total, result } = await longestLoopHold(() => compilePoliciesPaced(files));
      const limit = Math.max(bound.ms, bound.share * total);
      if (best === undefined || longest - limit < best.longest - best.limit) best = { longest, limit, error: result.status === 'rejected' ? result.reason : undefined };
    }
    return best as { longest: number; limit: number; error: unknown };
  }

  it('costs the conditions one decision can evaluate in slices too, however many roles the rules name', async () => {
    // 1,000 rules naming 999 roles each, as many role entries as the rule index may hold, of
    // conditions too costly together: each list of candidates was read by role in one piece,
    // and the binary search for the condition passing the bound read ~10 of them, ~0.5 s each.
    // Each condition near the bound alone, the fourth passes the bound for two: the search
    // reads ~1,000 rules' roles in all, not ~5,500 as it did to find the 500th.
    const condition = 'context.a.exists(x, x in context.b)';
    const rules = Array.from({ length: 1000 }, (_, i) => ({
      ...readRule, effect: 'permit' as const, id: `r${i}`, condition, roles: Array.from({ length: 999 }, (_, j) => `role-${i}-${j}`),
    }));
    const { longest, limit, error } = await longestGapCompiling([{ file: 'a.json', policy: { id: 'things', resource: 'thing', rules } }], { ms: 250, share: 1 / 12 });
    expect((error as PolicyLoadError).issues).toEqual([expect.objectContaining({ rule: 'r3', message: expect.stringMatching(/^too costly together: /) })]);
    expect(longest).toBeLessThan(limit);
  }, 60_000);

  it('builds the rules in slices however few distinct conditions they have', async () => {
    // 200,000 rules sharing one condition, in 2,000 policies over 200 resource types: the loop
    // yielded only after compiling a new condition text, so building every rule after the
    // first held the event loop in one piece (260-380 ms), and so did counting their index entries.
    const files: PolicyFile[] = Array.from({ length: 2000 }, (_, p) => ({
      file: `p${p}.json`,
      policy: { id: `p${p}`, resource: `type${p % 200}`, rules: Array.from({ length: 100 }, (_, i) => ({ ...readRule, effect: 'permit' as const, id: `r${p}-${i}`, condition: 'resource.properties.n == 1.0' })) },
    }));
    const { longest, limit, error } = await longestGapCompiling(files, { ms: 150, share: 1 / 10 });
    expect(error).toBeUndefined();
    expect(longest).toBeLessThan(limit);
  }, 60_000);

  it('builds the role index of a long list in slices', async () => {
    // 1,000 rules naming 999 roles each, one a policy: as many role entries as the rule index
    // may hold, listed by role in one piece (300-420 ms). In slices the longest gap measures
    // 27-29 ms on an idle machine and measured 163 ms once at a load average of 16: the bound
    // sits between that and the build in one piece, as the costing test's does.
    const files: PolicyFile[] = Array.from({ length: 1000 }, (_, p) => ({
      file: `p${p}.json`,
      policy: { id: `p${p}`, resource: 'thing', rules: [{ ...readRule, effect: 'permit' as const, id: `r${p}`, roles: Array.from({ length: 999 }, (_, j) => `role-${p}-${j}`) }] },
    }));
    const { longest, limit, error } = await longestGapCompiling(files, { ms: 250, share: 1 / 5 });
    expect(error).toBeUndefined();
    expect(longest).toBeLessThan(limit);
  }, 60_000);

  it('indexes the names of many actions in slices', async () => {
    // 499 rules of 1,000 actions each, named with an accent and out of order, and a "*" rule
    // listed under each of them: listing the names, folding each for the lookup by case, making
    // each an empty list of rules (140-250 ms), listing the "*" rule under each (270 ms) and
    // putting them in order for action search (190 ms sorted at once) each hold the event loop
    // in one piece unless sliced (230 and 770 ms here); a million, as many as the rule index may
    // hold, twice as long. In slices the longest gap measures 19-37 ms on an idle machine.
    const rules = [
      ...Array.from({ length: 499 }, (_, r) => ({
        ...readRule, effect: 'permit' as const, id: `r${r}`, actions: Array.from({ length: 1000 }, (_, i) => `é${String(((r * 1000 + i) * 7919) % 499_000)}`),
      })),
      { ...readRule, effect: 'deny' as const, id: 'any', actions: ['*'] },
    ];
    const { longest, limit, error } = await longestGapCompiling([{ file: 'a.json', policy: { id: 'things', resource: 'thing', rules } }], { ms: 100, share: 1 / 25 });
    expect(error).toBeUndefined();
    expect(longest).toBeLessThan(limit);
  }, 60_000);

  it('hashes a large policy into the version in slices', async () => {
    // One policy of 30,000 rules, 13 MB of JSON whose keys are out of order: put in key order,
    // written and hashed in one piece (300-480 ms).
    const advice = (i: number) => Object.fromEntries(Array.from({ length: 16 }, (_, k) => [`k${15 - k}`, { z: i, y: k }]));
    const rules = Array.from({ length: 30_000 }, (_, i) => ({ ...readRule, effect: 'permit' as const, id: `r${i}`, actions: [`a${i % 9}`], advice: advice(i) }));
    const files: PolicyFile[] = [{ file: 'a.json', policy: { id: 'things', resource: 'thing', rules } }];
    const { longest, limit, error } = await longestGapCompiling(files, { ms: 150, share: 1 / 10 });
    expect(error).toBeUndefined();
    expect(longest).toBeLessThan(limit);
  }, 60_000);
});

describe('policyVersion', () => {
  it('is a content hash: same content same version, any change a new one, key order irrelevant', async () => {
    const a = await loadPolicyDir(await tempDir({ 'a.json': policy([readRule]) }));
    const sameInOtherFile = await loadPolicyDir(await tempDir({ 'z.json': { rules: [readRule], resource: 'thing', id: 'things' } }));
    const changed = await loadPolicyDir(await tempDir({ 'a.json': policy([{ ...readRule, actions: ['read', 'list'] }]) }));
    expect(a.version).toMatch(/^[0-9a-f]{16}$/);
    expect(sameInOtherFile.version).toBe(a.version);
    expect(changed.version).not.toBe(a.version);
  });
});

describe('the order rules decide in', () => {
  it('follows policy ids, as the version does, not file names: renaming a file keeps version and answer alike', async () => {
    const lock = (id: string, step: string) => ({ id, resource: 'thing', rules: [{ id: `${id}-deny`, effect: 'deny', actions: ['read'], advice: { step } }] });
    const request = await tempDir({ 'request.json': { subject: { id: 'u1' }, action: 'read', resource: { type: 'thing' } } });
    const answers = [];
    for (const files of [{ 'a.json': lock('zeta', 'z'), 'b.json': lock('alpha', 'a') }, { 'b.json': lock('zeta', 'z'), 'a.json': lock('alpha', 'a') }]) {
      const run = await runCli(['check', await tempDir(files), '--request', join(request, 'request.json'), '--json']);
      expect(run.code).toBe(0);
      const { policyVersion, reasons, advice } = JSON.parse(run.stdout) as Record<string, unknown>;
      answers.push({ policyVersion, reasons, advice });
    }
    expect(answers[1]).toEqual(answers[0]);
  });
});

describe('pdp validate (process)', () => {
  it('exits 0 with a summary for the default policies', async () => {
    const run = await runCli(['validate', 'policies']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/^ok: 1 policies, 9 rules, 5 test files, version [0-9a-f]{16}\n$/);
  });

  it('exits 1 printing `file path (rule x): reason` for each problem', async () => {
    const dir = await tempDir({
      'a.json': policy([
        { ...readRule, condition: 'subject.rolez == 1' },
        { id: 'r2', effect: 'allow', actions: ['read'] },
      ]),
    });
    const run = await runCli(['validate', dir]);
    expect(run.code).toBe(1);
    expect(run.stderr.split('\n')).toEqual([
      expect.stringMatching(/^error a\.json \$\.rules\[1\]\.effect \(rule r2\): /),
      'invalid: 1 problem(s)',
      '',
    ]);
  });

  it('names no rule by an id it refuses: one holding a line break or an escape would print as lines of its own', async () => {
    const dir = await tempDir({ 'a.json': policy([{ id: 'r2\nerror b.json $: \u001b[2J', effect: 'allow', actions: ['read'] }]) });
    const run = await runCli(['validate', dir]);
    expect(run.code).toBe(1);
    expect(run.stderr.split('\n')).toEqual([
      expect.stringMatching(/^error a\.json \$\.rules\[0\]\.id: letters/),
      expect.stringMatching(/^error a\.json \$\.rules\[0\]\.effect: Invalid option/),
      'invalid: 2 problem(s)',
      '',
    ]);
  });

  it('exits 1 for a policy whose resource type is "*": no wildcard type exists, and its deny rules would apply to no request', async () => {
    const dir = await tempDir({
      'a.json': policy([readRule]),
      'everything.json': { id: 'everything', resource: '*', rules: [{ id: 'deny-suspended', effect: 'deny', actions: ['*'], roles: ['suspended'] }] },
    });
    const run = await runCli(['validate', dir]);
    expect(run.code).toBe(1);
    expect(run.stderr.split('\n')).toEqual([
      expect.stringMatching(/^error everything\.json \$\.resource: .*"\*"/),
      'invalid: 1 problem(s)',
      '',
    ]);
  });

  it('exits 1 for a folder in the policy directory, whose policies would never load; data/, tests/ and hidden folders pass', async () => {
    const dir = await tempDir({ 'a.json': policy([readRule]) });
    for (const folder of ['billing', 'data', 'tests', '.git', '..2026_12_05']) await mkdir(join(dir, folder));
    await writeFile(join(dir, 'billing', 'deny.json'), JSON.stringify({ id: 'billing', resource: 'things', rules: [{ id: 'deny-all', effect: 'deny', actions: ['*'] }] }));
    await writeFile(join(dir, 'tests', 'a.json'), JSON.stringify({ cases: [{ name: 'read', request: { subject: { id: 'u', properties: { roles: ['reader'] } }, action: 'read', resource: { type: 'things' } }, expect: { decision: 'permit' } }] }));
    const run = await runCli(['validate', dir]);
    expect(run.code).toBe(1);
    expect(run.stderr.split('\n')).toEqual([
      'error billing $: a folder in the policy directory is not read, so its policies would be left out: move its files into the directory itself (only data/ and tests/ are read as folders)',
      'invalid: 1 problem(s)',
      '',
    ]);
    await rm(join(dir, 'billing'), { recursive: true });
    expect(await runCli(['validate', dir])).toMatchObject({ code: 0 });
  });

  it('exits 1 for an empty directory', async () => {
    const run = await runCli(['validate', await tempDir()]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('no policy files (*.json) found');
  });

  it('exits 2 with usage for an unknown command', async () => {
    const run = await runCli(['frobnicate']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('usage: pdp');
  });
});

describe('the server process with a bad POLICY_DIR', () => {
  it('exits non-zero naming the file, JSON path and rule of each problem', async () => {
    const dir = await tempDir({ 'broken.json': policy([{ ...readRule, condition: 'subject.rolez == 1' }]) });
    const run = await runServerToExit({ POLICY_DIR: dir });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/broken\.json \$\.rules\[0\]\.condition \(rule read\): type: /);
  });

  it('exits non-zero naming a policy file whose name is not UTF-8, rather than not finding it', async () => {
    const dir = await tempDir({ 'broken.json': policy([readRule]) });
    await writeFile(Buffer.concat([Buffer.from(`${dir}/invoices-`), Buffer.from([0xff]), Buffer.from('.json')]), JSON.stringify(policy([readRule])));
    const run = await runServerToExit({ POLICY_DIR: dir });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('invoices-\uFFFD.json $: the file name is not UTF-8: rename the file');
    expect(run.stderr).not.toContain('ENOENT');
  });

  it('exits non-zero naming a policy file saved as *.JSON, rather than serving the set without it, and every other problem', async () => {
    const dir = await tempDir({ 'invoices.json': policy([readRule]), 'deny.JSON': policy([readRule]), 'broken.json': policy([{ ...readRule, condition: 'subject.rolez == 1' }]) });
    const run = await runServerToExit({ POLICY_DIR: dir });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('deny.JSON $: the file name ends in ".JSON": rename it to end in ".json" to load it, or to another ending to leave it out');
    expect(run.stderr).toMatch(/broken\.json \$\.rules\[0\]\.condition \(rule read\): type: /);
  });

  it('writes each problem on a line of its own, a line break or terminal escape a file holds written as \\u{…}, as pdp does', async () => {
    const forged = 'x\u001b[2J\n  fine.json $: ok';
    const dir = await tempDir({ 'broken.json': policy([{ ...readRule, [forged]: 1 }]) });
    const run = await runServerToExit({ POLICY_DIR: dir });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('broken.json $.rules[0] (rule read): Unrecognized key: "x\\u{1b}[2J\\u{a}  fine.json $: ok": a rule takes id, description, effect, actions, roles, scopes, condition and advice\n');
    expect(run.stderr).not.toContain('\u001b');
    expect(run.stderr.split('\n').filter((line) => line.includes('fine.json'))).toHaveLength(1);
  });

  it('exits non-zero when the directory is missing', async () => {
    const run = await runServerToExit({ POLICY_DIR: '/nonexistent/policies' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('cannot read policy directory');
  });
});
