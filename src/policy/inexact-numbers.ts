import { CLOSE_ARRAY, CLOSE_OBJECT, COMMA, OPEN_ARRAY, OPEN_OBJECT, QUOTE } from '../json-chars.js';
import { closingQuote, keyOf } from './duplicate-keys.js';

/** A number as written that a double does not hold, where it is and what it reads as. */
export interface InexactNumber {
  readonly path: (string | number)[];
  readonly written: string;
  /** The double's shortest text, which JSON.stringify writes. */
  readonly reads: string;
}

interface Frame {
  readonly object: boolean;
  index: number;
  key: string;
  expectKey: boolean;
}

const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;
const numberToken = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const numberParts = /^-?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/**
 * The decimal value of a JSON number as its significant digits and the power of ten of the last:
 * `1.50`, `15e-1` and `0.150e1` are all `15e-1`, and every zero is `0` (a double's -0 is read and
 * written back as -0).
 */
function decimalValue(token: string): string {
  const [, whole = '', fraction = '', exponent = '0'] = numberParts.exec(token) ?? [];
  const digits = `${whole}${fraction}`.replace(/^0+/, '');
  if (digits === '') return '0';
  const significant = digits.replace(/0+$/, '');
  const power = BigInt(exponent) - BigInt(fraction.length) + BigInt(digits.length - significant.length);
  return `${token.startsWith('-') ? '-' : ''}${significant}e${power}`;
}

/**
 * Finds the first number in well-formed JSON text whose value a double does not hold exactly,
 * so that writing the parsed value back would change it: `12345678901234567890` comes out as
 * `12345678901234567000`, `0.10000000000000000001` as `0.1`, `1e-400` as `0`. One pass over the
 * tokens, no recursion; run after the text parsed and its depth was checked.
 */
export function findInexactNumber(text: string): InexactNumber | undefined {
  const stack: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const top = stack.at(-1);
    if (c === QUOTE) {
      const end = closingQuote(text, i);
      if (top?.object === true && top.expectKey) {
        top.key = keyOf(text, i, end + 1);
        top.expectKey = false;
      }
      i = end;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      stack.push({ object: c === OPEN_OBJECT, index: 0, key: '', expectKey: c === OPEN_OBJECT });
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      stack.pop();
    } else if (c === COMMA && top !== undefined) {
      if (top.object) top.expectKey = true;
      else top.index++;
    } else if (c === MINUS || (c >= ZERO && c <= NINE)) {
      numberToken.lastIndex = i;
      const written = numberToken.exec(text)?.[0] ?? text[i] ?? '';
      const reads = String(Number(written));
      if (decimalValue(written) !== decimalValue(reads)) return { path: stack.map((f) => (f.object ? f.key : f.index)), written, reads };
      i += written.length - 1;
    }
  }
  return undefined;
}
