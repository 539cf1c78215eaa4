import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalJsonParts } from '../src/canonical-json.js';

/** The definition: sorted keys, member by member. canonicalJson must give exactly this text. */
function reference(value: unknown): string {
  if (Object.is(value, -0)) return '-0';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : reference(item))).join(',')}]`;
  const record = value as Record<string, unknown>;
  const members: string[] = [];
  for (const key of Object.keys(record).sort()) {
    if (record[key] !== undefined) members.push(`${JSON.stringify(key)}:${reference(record[key])}`);
  }
  return `{${members.join(',')}}`;
}

/** The same value with every object's keys in reverse order. */
function reversed(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversed);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).reverse()) {
    Object.defineProperty(out, key, { value: reversed((value as Record<string, unknown>)[key]), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

const keys = fc.oneof(fc.string(), fc.constantFrom('0', '1', '2', '10', '01', '4294967295', '__proto__', 'a', 'b', 'B', 'é', '\u{1f600}'));
const json = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom(null, true, false, 0, -0, 1.5, -7, 1e21, Number.NaN, Infinity, -Infinity, 'x'),
    fc.string(),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(keys, fc.oneof(tie('value'), fc.constant(undefined)), { maxKeys: 6 }),
  ),
})).value;

describe('canonicalJson', () => {
  it('gives the sorted-key text, whatever the order, the keys or the values', () => {
    fc.assert(
      fc.property(json, (value) => {
        const text = canonicalJson(value);
        expect(text).toBe(reference(value));
        expect(canonicalJson(reversed(value))).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps a __proto__ key as data and orders array-index keys as strings', () => {
    const withProto = JSON.parse('{"b":1,"__proto__":{"x":1},"a":2}') as unknown;
    expect(canonicalJson(withProto)).toBe('{"__proto__":{"x":1},"a":2,"b":1}');
    expect(canonicalJson({ b: { 10: 'x', 2: 'y', a: 'z' }, a: [undefined, 1] })).toBe('{"a":[null,1],"b":{"10":"x","2":"y","a":"z"}}');
    // Array indices from 0 to 4294967294, whose first digit may be a 9 and which may run to ten digits.
    expect(canonicalJson({ 9: 'x', '8a': 'y' })).toBe('{"8a":"y","9":"x"}');
    expect(canonicalJson({ 4294967294: 'x', '0a': 'y' })).toBe('{"0a":"y","4294967294":"x"}');
  });

  it('never writes a number JSON cannot hold as null, so it cannot share a key with null', () => {
    const texts = [null, Infinity, -Infinity, Number.NaN].map((v) => canonicalJson({ amount: v, limit: [v] }));
    expect(new Set(texts).size).toBe(4);
    expect(texts[1]).toBe('{"amount":Infinity,"limit":[Infinity]}');
  });

  it('writes -0 as -0, so it never shares a key with 0, wherever it sits', () => {
    const zero = JSON.parse('{"b":[0.0],"a":{"x":0}}') as unknown;
    const negative = JSON.parse('{"b":[-0.0],"a":{"x":-0}}') as unknown;
    expect(canonicalJson(zero)).toBe('{"a":{"x":0},"b":[0]}');
    expect(canonicalJson(negative)).toBe('{"a":{"x":-0},"b":[-0]}');
    expect(canonicalJson(-0)).toBe('-0');
    expect(JSON.parse(canonicalJson(negative))).toEqual(negative);
  });

  it('walks values that are not plain JSON the same way as before', () => {
    // eslint-disable-next-line no-sparse-arrays
    const sparse = [1, , 3];
    expect(canonicalJson({ b: sparse, a: () => 1, c: undefined })).toBe(reference({ b: sparse, a: () => 1, c: undefined }));
    expect(canonicalJson(new Date(0))).toBe('{}');
    expect(canonicalJson(sparse)).toBe('[1,,3]');
    expect(canonicalJson(sparse)).not.toBe(canonicalJson([1, null, 3]));
  });
});

describe('canonicalJsonParts', () => {
  it('joins into the text of canonicalJson, at any depth', () => {
    fc.assert(
      fc.property(json, fc.integer({ min: 0, max: 4 }), (value, depth) => {
        expect([...canonicalJsonParts(value, depth)].join('')).toBe(canonicalJson(value));
      }),
      { numRuns: 2000 },
    );
  });

  it('writes members down to the depth it is given, and values that are not plain JSON whole', () => {
    // eslint-disable-next-line no-sparse-arrays
    const sparse = [1, , 3];
    const value = { b: [{ y: 1, x: [2] }], a: new Date(0), c: undefined, d: sparse, e: () => 1 };
    expect([...canonicalJsonParts(value, 2)]).toEqual(['{"a":', '{}', ',"b":', '[', '{"x":[2],"y":1}', ']', ',"d":', '[', '1', ',', ',', '3', ']', ',"e":', 'null', '}']);
    expect([...canonicalJsonParts(value, 2)].join('')).toBe(canonicalJson(value));
  });
});
