import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSource } from '../src/json-source.js';
import { parseSourcePaced } from '../src/json-source-paced.js';

const noPause = async (): Promise<void> => undefined;

/** Strings that make a scan of JSON text go wrong if it does not skip strings as JSON does. */
const tricky = fc.string({ unit: fc.constantFrom('"', '\\', '[', ']', '{', '}', ',', ':', 'a', ' ', '\n', '\u2028') });
const key = fc.oneof(tricky, fc.constantFrom('__proto__', 'entities', 'rules', 'constructor'));
const plain = fc.oneof(tricky, fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null));
const json = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, plain, fc.array(tie('value'), { maxLength: 4 }), fc.dictionary(key, tie('value'), { maxKeys: 4 })),
})).value;
/** A file as the loader sees them: an object, some of its members long arrays. */
const file = fc.dictionary(key, fc.oneof(json, fc.array(json, { maxLength: 12 })), { maxKeys: 5 });

/** Text a person may have broken: a character dropped, put in, a key written twice, a number too long. */
const edit = fc.oneof(
  fc.constant((text: string) => text),
  fc.tuple(fc.nat(), fc.constantFrom('', '"', '\\', ',', '[', ']', '{', '}', ' ', '1')).map(([at, put]) => (text: string) => {
    const i = at % (text.length + 1);
    return `${text.slice(0, i)}${put}${text.slice(i + (put === '' ? 1 : 0))}`;
  }),
  fc.constantFrom(
    (text: string) => text.replace('{', '{"k":1,"k":2,'),
    (text: string) => text.replace(/\[/, '[9007199254740993,'),
    (text: string) => text.replace(/\[/, '[1e400,'),
    (text: string) => text.replace(/\[/, `[${'['.repeat(70)}${']'.repeat(70)},`),
    (text: string) => `${text} {}`,
    (text: string) => text.replace('[', '[,'),
    (text: string) => text.replace(']', ',]'),
    (text: string) => text.replace(']', ', ]'),
    (text: string) => text.replace(',', ',,'),
    (text: string) => text.replace('[', '[ \n'),
  ),
);

describe('parseSourcePaced', () => {
  it('reads any text in pieces as parseSource reads it whole: the same value, or the same refusal at the same path', async () => {
    await fc.assert(
      fc.asyncProperty(file, fc.boolean(), edit, fc.integer({ min: 1, max: 64 }), async (value, indented, broken, pieceChars) => {
        const text = broken(JSON.stringify(value, null, indented ? 2 : undefined));
        const whole = parseSource(text);
        const paced = await parseSourcePaced(text, noPause, { wholeUpTo: 0, pieceChars });
        if ('value' in whole && 'value' in paced) {
          expect(JSON.stringify(paced.value)).toBe(JSON.stringify(whole.value));
          // A member named __proto__ is data, as JSON.parse makes it, never the object's prototype.
          expect(Object.getPrototypeOf(paced.value)).toBe(Object.getPrototypeOf(whole.value));
        } else {
          expect(paced).toEqual(whole);
        }
      }),
      { numRuns: 3_000 },
    );
  });

  it('reads a member array named __proto__ as data', async () => {
    const text = '{"__proto__":[{"a":1},{"b":2}],"rules":[]}';
    const paced = await parseSourcePaced(text, noPause, { wholeUpTo: 0, pieceChars: 1 });
    expect('value' in paced).toBe(true);
    const value = (paced as { value: Record<string, unknown> }).value;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(['__proto__', 'rules']);
    expect(JSON.stringify(value)).toBe(text);
  });
});
