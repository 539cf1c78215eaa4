import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findJsonSyntaxError } from '../src/json-syntax.js';

/** Whether JSON.parse takes `text`. */
function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** JSON text with a few characters inserted, deleted or replaced: mostly broken, sometimes not. */
const mangledJson = fc
  .tuple(
    fc.json({ maxDepth: 4 }),
    fc.array(fc.tuple(fc.nat(), fc.constantFrom('insert', 'delete', 'replace'), fc.constantFrom(...'{}[]",:0123456789-+.eEtrufalsn \\\n\t\'xu')), { minLength: 1, maxLength: 3 }),
  )
  .map(([text, edits]) =>
    edits.reduce((t, [position, edit, char]) => {
      const at = position % (t.length + 1);
      if (edit === 'insert') return t.slice(0, at) + char + t.slice(at);
      return t.slice(0, at) + (edit === 'replace' ? char : '') + t.slice(at + 1);
    }, text),
  );

describe('findJsonSyntaxError', () => {
  it('finds an error exactly where JSON.parse refuses the text', () => {
    fc.assert(
      fc.property(mangledJson, (text) => {
        expect(findJsonSyntaxError(text) === undefined).toBe(parses(text));
      }),
      { numRuns: 5_000 },
    );
  });

  it.each([
    ['[1, 2,]', 1, 7, 'a "," before "]": JSON has no comma after the last element'],
    ['{\n  "a": 1,\n}', 3, 1, 'a "," before "}": JSON has no comma after the last member'],
    ["{'a': 1}", 1, 2, '"\'" where a key in double quotes should be'],
    ['{"a": tru}', 1, 7, 'a bare word where a value should be: JSON\'s words are true, false and null, and its strings are in double quotes'],
    ['{"a": "b\nc"}', 1, 9, 'U+000A inside a string: write it escaped (\\n, \\t, \\u0000)'],
    ['[01]', 1, 2, 'not a number as JSON writes one: digits without leading zeros, a "." and an exponent each followed by digits'],
    ['"\\u12G4"', 1, 2, '"\\u" needs four hexadecimal digits after it'],
    ['{"a": 1} x', 1, 10, '"x" after the end of the JSON value'],
    ['[1, 2', 1, 6, 'the end of the text where "," or "]" should follow an element'],
    ['\ufeff{}', 1, 1, 'U+FEFF where a value should be'],
    ['[~]', 1, 2, '"~" where a value should be'],
    ['{"a": "b', 1, 9, 'the text ends inside a string'],
    ['["\u001f"]', 1, 3, 'U+001F inside a string: write it escaped (\\n, \\t, \\u0000)'],
    ['"\\u123x"', 1, 2, '"\\u" needs four hexadecimal digits after it'],
    // Past every escape JSON knows, to the fault after them.
    ['["\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9", 1,]', 1, 30, 'a "," before "]": JSON has no comma after the last element'],
    ['[1.]', 1, 2, 'not a number as JSON writes one: digits without leading zeros, a "." and an exponent each followed by digits'],
    ['{"a": True}', 1, 7, 'a bare word where a value should be: JSON\'s words are true, false and null, and its strings are in double quotes'],
  ])('names the place and the fault in %j', (text, line, column, message) => {
    expect(findJsonSyntaxError(text)).toEqual({ line, column, message });
  });

  it('leaves text nested past 1,000 levels unread, rather than overflow the stack', () => {
    expect(findJsonSyntaxError('['.repeat(100_000))).toBeUndefined();
  });
});
