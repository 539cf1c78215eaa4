import { beforeAll, describe, expect, it } from 'vitest';
import { postJson, readJson, type buildTestApp } from './helpers/app.js';
import { appOverPolicies } from './helpers/policy-app.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

// CEL map keys are ints, uints, bools or strings, and a key of one type is never a key of
// another: `{1: "a"}["1"]` and `{"1": "a"}[1]` find nothing (langdef.md, "Aggregate Values").
// Ints, uints and doubles are numbers alike, so `{1: "a"}[1u]` and `[1.0]` do find it.

const rule = (id: string, condition: string) => ({ id, effect: 'permit', actions: [id], condition });

describe('POST /decide: map keys of one type are not keys of another', () => {
  let app: App;
  beforeAll(async () => {
    ({ app } = await appOverPolicies({
      'invoices.json': {
        id: 'invoices',
        resource: 'invoice',
        rules: [
          rule('int-index', 'context.approvals[int(context.n)] == "ok"'),
          rule('bool-index', 'context.flags[context.on] == "on"'),
          rule('int-in', 'int(context.n) in context.approvals'),
          rule('literal-int', '{1: "one", 2: "two"}[context.key] == "one"'),
          rule('literal-string', '{"1": "one"}[context.key] == "one"'),
          rule('literal-int-in', 'context.key in {1: "one"}'),
          rule('literal-bool', '{true: "yes"}[context.key] == "yes"'),
          rule('literal-keys', '{1: "a", 2: "b"}.all(k, k > 0)'),
          rule('literal-reserved', '{"constructor": "c", "__proto__": "p"}.size() == 2 && {"constructor": "c"}.constructor == "c"'),
          rule('literal-reserved-in', 'context.key in {"constructor": context.a, "prototype": context.a}'),
          rule('dynamic-keys', '{context.a: 1, context.b: 2}.size() == 2'),
          rule('literal-equal', 'context.approvals == {1: "ok"}'),
          rule('literal-unequal', '{true: "on"} != context.flags'),
          rule('nested-equal', '[{"n": {1: "ok"}}] == context.list'),
          rule('reserved-equal', 'context.m == {"constructor": "c"}'),
          rule('proto-equal', 'context.m == {"region": "EU"}'),
          rule('proto-literal', 'context.m == {"__proto__": {}}'),
          rule('proto-nested', '[context.m] == [context.n]'),
          rule('proto-unequal', 'context.m != context.n'),
        ],
      },
    }));
  });

  async function decide(action: string, context: Record<string, unknown>) {
    const res = await postJson(app, '/decide', { subject: { id: 'u1' }, action, resource: { type: 'invoice' }, context });
    expect(res.status).toBe(200);
    return readJson(res);
  }
  const permitted = (rule: string) => ({ decision: 'permit', reasons: [{ rule }] });
  const failed = (rule: string, detail: string) => ({
    decision: 'deny',
    reasons: [{ code: 'no_applicable_rule' }, { code: 'condition_error', rule, detail: expect.stringContaining(detail) as unknown }],
  });
  const notApplied = { decision: 'deny', reasons: [{ code: 'no_applicable_rule' }] };

  it('finds no int or bool key in a map from the request, whose keys are strings', async () => {
    // Were permit: the library looked the int 1 up as "1", and true as "true".
    expect(await decide('int-index', { approvals: { '1': 'ok' }, n: 1 })).toMatchObject(failed('int-index', 'No such key: 1'));
    expect(await decide('bool-index', { flags: { true: 'on' }, on: true })).toMatchObject(failed('bool-index', 'No such key: true'));
    expect(await decide('bool-index', { flags: { true: 'on' }, on: 'true' })).toMatchObject(permitted('bool-index'));
    expect(await decide('int-in', { approvals: { '1': 'ok' }, n: 1 })).toMatchObject(notApplied);
  });

  it('keeps the type of a literal map\'s keys', async () => {
    // A JSON number is a double: 1.0 is the int key 1, as CEL compares numbers; 1.5 is no key.
    expect(await decide('literal-int', { key: 1 })).toMatchObject(permitted('literal-int'));
    expect(await decide('literal-int', { key: 1.5 })).toMatchObject(failed('literal-int', 'No such key: 1.5'));
    // Was permit: the library made {1: "one"} the object {"1": "one"}.
    expect(await decide('literal-int', { key: '1' })).toMatchObject(failed('literal-int', 'No such key: 1'));
    expect(await decide('literal-string', { key: '1' })).toMatchObject(permitted('literal-string'));
    expect(await decide('literal-bool', { key: 'true' })).toMatchObject(failed('literal-bool', 'No such key: true'));
    expect(await decide('literal-int-in', { key: '1' })).toMatchObject(notApplied);
    // Was an error: the keys were strings, not the ints the type check expects.
    expect(await decide('literal-keys', {})).toMatchObject(permitted('literal-keys'));
    // Was deny: the library dropped those keys.
    expect(await decide('literal-reserved', {})).toMatchObject(permitted('literal-reserved'));
    // Looked up by `in` as any other key: as an object, the library could not type the map.
    expect(await decide('literal-reserved-in', { key: 'constructor', a: 'c' })).toMatchObject(permitted('literal-reserved-in'));
    expect(await decide('literal-reserved-in', { key: '__proto__', a: 'c' })).toMatchObject(notApplied);
  });

  it('is an error for a literal map with a key twice, or a key of no key type', async () => {
    expect(await decide('dynamic-keys', { a: 'x', b: 'y' })).toMatchObject(permitted('dynamic-keys'));
    // Was permit for a size of 2: the second entry replaced the first.
    expect(await decide('dynamic-keys', { a: 'x', b: 'x' })).toMatchObject(failed('dynamic-keys', 'duplicate'));
    for (const a of [1.5, null, ['x'], { x: 1 }]) {
      expect(await decide('dynamic-keys', { a, b: 'y' }), JSON.stringify(a)).toMatchObject(failed('dynamic-keys', 'map key'));
    }
  });

  it('holds a map with int or bool keys unequal to one with string keys', async () => {
    // Were permit: the library compared the keys as strings, {1: "ok"} as {"1": "ok"}.
    expect(await decide('literal-equal', { approvals: { '1': 'ok' } })).toMatchObject(notApplied);
    expect(await decide('literal-unequal', { flags: { true: 'on' } })).toMatchObject(permitted('literal-unequal'));
    expect(await decide('nested-equal', { list: [{ n: { '1': 'ok' } }] })).toMatchObject(notApplied);
    expect(await decide('literal-unequal', { flags: { true: 'off' } })).toMatchObject(permitted('literal-unequal'));
    // A literal is a Map for a reserved key too, and equals the object with that string key.
    expect(await decide('reserved-equal', { m: { constructor: 'c' } })).toMatchObject(permitted('reserved-equal'));
    expect(await decide('reserved-equal', { m: { constructor: 'd' } })).toMatchObject(notApplied);
  });

  it('finds no key of a map in another that does not hold it, `__proto__` included', async () => {
    // A `__proto__` member, as JSON.parse reads the body: a key like any other, not a prototype.
    const proto = JSON.parse('{"__proto__": {}}') as unknown;
    // Were permit: the library looked `__proto__` up in the other map with `in`, which found its
    // prototype, an empty map equal to the `{}` held.
    expect(await decide('proto-equal', { m: proto })).toMatchObject(notApplied);
    expect(await decide('proto-literal', { m: { region: 'EU' } })).toMatchObject(notApplied);
    expect(await decide('proto-nested', { m: proto, n: { region: 'EU' } })).toMatchObject(notApplied);
    // Was not applied: the two maps compared equal.
    expect(await decide('proto-unequal', { m: proto, n: { region: 'EU' } })).toMatchObject(permitted('proto-unequal'));
    // A `__proto__` key equals the same key.
    expect(await decide('proto-literal', { m: proto })).toMatchObject(permitted('proto-literal'));
    expect(await decide('proto-nested', { m: proto, n: proto })).toMatchObject(permitted('proto-nested'));
    expect(await decide('proto-equal', { m: { region: 'EU' } })).toMatchObject(permitted('proto-equal'));
  });
});

describe('POST /decide: an index past the end of a list', () => {
  let app: App;
  beforeAll(async () => {
    ({ app } = await appOverPolicies({
      'invoices.json': {
        id: 'invoices',
        resource: 'invoice',
        rules: [
          { id: 'second-role', effect: 'permit', actions: ['read'], condition: 'subject.roles[1] == "x"' },
          rule('item', 'context.items[int(context.n)] == "x"'),
          rule('number', 'context.items[context.n] == "x"'),
          rule('text', 'context.items[double(context.n)] == "x"'),
          rule('far', 'context.items[-9223372036854775807] == "x"'),
          rule('uint', 'context.items[1u] == "x"'),
          rule('uint-read', 'context.items[uint(context.n)] == "x"'),
          rule('uint-far', 'context.items[18446744073709551615u] == "x"'),
          rule('uint-key', 'context.m[1u] == "x"'),
          rule('typed', 'context.items[context.k] == "x"'),
          rule('typed-now', 'context.items[now] == "x"'),
          rule('typed-duration', 'context.items[duration("1s")] == "x"'),
          rule('typed-bytes', 'context.items[b"a"] == "x"'),
          rule('typed-type', 'context.items[type(1)] == "x"'),
        ],
      },
    }));
  });

  async function detail(action: string, context: Record<string, unknown> = {}) {
    const res = await postJson(app, '/decide', { subject: { id: 'u1' }, action, resource: { type: 'invoice' }, context });
    expect(res.status).toBe(200);
    const { reasons } = (await readJson(res)) as { reasons: { code?: string; detail?: string }[] };
    return reasons.find((reason) => reason.code === 'condition_error')?.detail;
  }
  async function decision(action: string, context: Record<string, unknown>) {
    const res = await postJson(app, '/decide', { subject: { id: 'u1' }, action, resource: { type: 'invoice' }, context });
    return ((await readJson(res)) as { decision: string }).decision;
  }

  it('names the size of the list, an empty one included', async () => {
    // Was "index 1 >= size undefined" for a subject with no roles.
    expect(await detail('read')).toContain('index out of bounds, index 1 >= size 0');
    expect(await detail('item', { items: [], n: 0 })).toContain('index out of bounds, index 0 >= size 0');
    expect(await detail('item', { items: ['a'], n: 1 })).toContain('index out of bounds, index 1 >= size 1');
    expect(await detail('item', { items: ['a', 'b'], n: 5 })).toContain('index out of bounds, index 5 >= size 2');
    expect(await detail('item', { items: [], n: -1 })).toContain('index out of bounds, index -1 < 0');
  });

  it('names a negative index as written, and refuses a number that is no whole one as no index, as cel-go does', async () => {
    // Was "index -9223372036854776000 < 0": the int read as a double.
    expect(await detail('far', { items: ['a'] })).toBe('No such key: index out of bounds, index -9223372036854775807 < 0');
    // Were "index 0.5 >= size 2", "index -0.5 < 0", "index NaN >= size 2", "index Infinity >= size 2".
    expect(await detail('number', { items: ['a', 'b'], n: 0.5 })).toBe('unsupported index value 0.5 in list');
    expect(await detail('number', { items: ['a', 'b'], n: -0.5 })).toBe('unsupported index value -0.5 in list');
    expect(await detail('number', { items: [], n: 1.5 })).toBe('unsupported index value 1.5 in list');
    expect(await detail('text', { items: ['a', 'b'], n: 'NaN' })).toBe('unsupported index value NaN in list');
    expect(await detail('text', { items: ['a', 'b'], n: 'Infinity' })).toBe('unsupported index value Infinity in list');
    expect(await detail('text', { items: ['a', 'b'], n: '-Infinity' })).toBe('unsupported index value -Infinity in list');
    // A whole double beyond an int is no index either (was "index out of bounds, index 1e+300 >= size 2").
    expect(await detail('number', { items: ['a', 'b'], n: 1e300 })).toBe('unsupported index value 1e+300 in list');
    expect(await detail('number', { items: ['a', 'b'], n: 9223372036854775808 })).toBe('unsupported index value 9223372036854776000 in list');
    expect(await detail('number', { items: ['a', 'b'], n: -1e19 })).toBe('unsupported index value -10000000000000000000 in list');
    expect(await detail('number', { items: ['a', 'b'], n: -9223372036854775808 })).toBe('No such key: index out of bounds, index -9223372036854776000 < 0');
    // A whole double is an index: -0.0 and 1.0 read the first and second.
    expect(await detail('number', { items: ['a', 'b'], n: 2.0 })).toBe('No such key: index out of bounds, index 2 >= size 2');
    expect(await detail('number', { items: ['a', 'b'], n: -1 })).toBe('No such key: index out of bounds, index -1 < 0');
    expect(await detail('number', { items: ['x', 'b'], n: -0.0 })).toBeUndefined();
    expect(await detail('number', { items: ['a', 'x'], n: 1.0 })).toBeUndefined();
  });

  it('reads a list at a uint index, as cel-go does', async () => {
    // Was "No such key: 1": the library looked a uint up in a list as a map key.
    expect(await decision('uint', { items: ['a', 'x'] })).toBe('permit');
    expect(await decision('uint', { items: ['x', 'a'] })).toBe('deny');
    expect(await decision('uint-read', { items: ['a', 'x'], n: 1 })).toBe('permit');
    expect(await detail('uint-read', { items: ['a'], n: 1 })).toBe('No such key: index out of bounds, index 1 >= size 1');
    expect(await detail('uint', { items: [] })).toBe('No such key: index out of bounds, index 1 >= size 0');
    // Beyond an int, as in cel-go: no index at all.
    expect(await detail('uint-far', { items: ['a'] })).toBe('unsupported index value 18446744073709551615 in list');
    // A map from the request has string keys alone: a uint finds nothing in it.
    expect(await detail('uint-key', { m: { '1': 'x' } })).toBe('No such key: 1');
  });

  it('names the type of an index that is no number, as cel-go does', async () => {
    // Were "No such key: a", "No such key: true", "No such key: [object Object]"…: the library
    // looked the value up in the list as a map key.
    const types: [unknown, string][] = [['a', 'string'], ['1', 'string'], [true, 'bool'], [null, 'null_type'], [[0], 'list'], [{ a: 0 }, 'map']];
    for (const [k, type] of types) {
      expect(await detail('typed', { items: ['x', 'x'], k }), JSON.stringify(k)).toBe(`unsupported index type '${type}' in list`);
    }
    const literals: [string, string][] = [['now', 'google.protobuf.Timestamp'], ['duration', 'google.protobuf.Duration'], ['bytes', 'bytes'], ['type', 'type']];
    for (const [action, type] of literals) {
      expect(await detail(`typed-${action}`, { items: ['x'] })).toBe(`unsupported index type '${type}' in list`);
    }
  });
});
