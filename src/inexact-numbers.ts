import { cutLength, echoed } from './echoed-text.js';
import { pathOf, scanJson } from './json-scan.js';

/** A number as written that a double does not hold, where it is and what it reads as. */
export interface InexactNumber {
  readonly path: (string | number)[];
  readonly written: string;
  /** The double's shortest text, which JSON.stringify writes. */
  readonly reads: string;
}

/**
 * What is wrong with `found`, quoting it as written, cut as echoed text is (its first 64
 * characters and its length): `0.` and a megabyte of zeros made a problem of two megabytes.
 */
export function notExactly(found: InexactNumber): string {
  const { written } = found;
  return `${echoed(written)}${cutLength(written)} is not exactly a double and would be read as ${found.reads}`;
}

const ZERO = 0x30;
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
  // Not `replace(/0+$/, '')`: tried at each zero of a run that does not end the digits, it reads
  // the rest of the run each time, which for `1.000…01` is quadratic in the number's length.
  let end = digits.length;
  while (digits.charCodeAt(end - 1) === ZERO) end--;
  const significant = digits.slice(0, end);
  // The exponent is read as a double, not a BigInt, whose parse takes time growing faster than
  // its length (0.4 s for a megabyte of digits). A double holds it exactly up to 2^53; beyond
  // that the number is out of a double's range whatever its digits (no more than the text holds),
  // so its power differs from that of what it reads as, rounded or not.
  const power = Number(exponent) - fraction.length + (digits.length - significant.length);
  return `${token.startsWith('-') ? '-' : ''}${significant}e${power}`;
}

/**
 * Finds the first number in well-formed JSON text whose value a double does not hold exactly,
 * so that writing the parsed value back would change it: `12345678901234567890` comes out as
 * `12345678901234567000`, `0.10000000000000000001` as `0.1`, `1e-400` as `0`. One pass over the
 * tokens, no recursion; run after the text parsed and its depth was checked.
 */
export function findInexactNumber(text: string): InexactNumber | undefined {
  let found: InexactNumber | undefined;
  scanJson(text, {
    number: (written, scopes) => {
      const reads = String(Number(written));
      if (decimalValue(written) !== decimalValue(reads)) found = { path: pathOf(scopes), written, reads };
      return found !== undefined;
    },
  });
  return found;
}
