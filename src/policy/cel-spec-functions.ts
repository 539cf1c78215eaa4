import type { Environment } from '@marcbachmann/cel-js';
import { Duration, UnsignedInt } from '@marcbachmann/cel-js/evaluator';
import { timeFieldNames, withTimeFields } from './cel-time-fields.js';

/**
 * CEL functions the library (cel-js 8) implements otherwise than the CEL specification does,
 * in ways a policy could be fooled by:
 * - `lowerAscii()` and `upperAscii()` map every letter, as JavaScript does: `"\u212A"` (the
 *   Kelvin sign) lowers to `"k"`, `"ſ"` uppers to `"S"`, so `email.lowerAscii().endsWith(…)`
 *   matched addresses it should not;
 * - `timestamp(string)` reads anything JavaScript's Date reads: `"2025-02-30T00:00:00Z"` is
 *   2 March, `"Tue, 01 Jan 2999 00:00:00 GMT"` a date, where CEL requires RFC 3339 and fails;
 * - `int(double)` has no int64 range check: `int(1e19)` is 10^19;
 * - `uint(string)` and `double(string)` read what JavaScript's BigInt and Number read, where CEL
 *   reads a decimal number (Go's strconv.ParseUint base 10, ParseFloat): `uint("")` is 0,
 *   `uint("0X10")` 16, `uint("0B1")` 1, `double("0x10")` 16, `double(" 1")` 1; and `uint()` of a
 *   negative double truncates it to 0, where CEL fails;
 * - `trim()` strips what JavaScript's trim() does, where CEL (cel-go's strings extension, Go's
 *   strings.TrimSpace) strips Unicode White_Space: U+FEFF (the byte order mark) was stripped and
 *   U+0085 (NEL) kept, so `code.trim() == "INV-1"` held for `"\uFEFFINV-1"`;
 * - `duration(string)` looks for each part with an unanchored pattern that backtracks: 1,000
 *   digits with no unit took 0.8 s, 4,000 took 28 s, 16K would take tens of minutes. It
 *   also read `"h"` and `".h"` as 0s, where CEL (Go's time.ParseDuration) fails, and refused `"0"`.
 * - the timestamp getters read some fields in the time zone of the process (cel-time-fields.ts);
 * - `split("")` splits between UTF-16 code units, where CEL (cel-go's strings extension, Go's
 *   strings.SplitN) splits between code points: a character beyond U+FFFF became two pieces,
 *   neither of them a character, so `name.split("").exists(c, c == "😀")` was false for "a😀b".
 * - `string(double)` writes JavaScript's text for the number, where cel-go writes Go's `%g`:
 *   `string(1500000.0)` was "1500000", which cel-go writes "1.5e+06", so a condition comparing a
 *   number of the request as text held where cel-go's does not; and `string(bytes)` replaced
 *   bytes that are no UTF-8, where CEL fails.
 * And one it implements as CEL defines it, but slowly: `size()` of a string counts code points
 * one by one (~5 ns each), where cel-cost.ts charges it by length; the replacement counts a
 * string without surrogates in one native scan, so that `roles.exists(r, size(r) > 3)` loads.
 * Its registry cannot replace a function, so these are registered under names of their own,
 * and cel.ts renames a condition's calls to them after it is parsed (before it is first
 * evaluated, which binds each call to its function).
 */
export const specFunctionNames: ReadonlyMap<string, string> = new Map([
  ['lowerAscii', 'specLowerAscii'],
  ['upperAscii', 'specUpperAscii'],
  ['trim', 'specTrim'],
  ['size', 'specSize'],
  ['timestamp', 'specTimestamp'],
  ['int', 'specInt'],
  ['uint', 'specUint'],
  ['double', 'specDouble'],
  ['duration', 'specDuration'],
  ['split', 'specSplit'],
  ['string', 'specString'],
  ...timeFieldNames,
]);

const timestampType = 'google.protobuf.Timestamp';
const durationType = 'google.protobuf.Duration';
/** The range of a CEL timestamp, 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z, in ms. */
export const minTimestampMs = -62_135_596_800_000;
export const maxTimestampMs = 253_402_300_799_999;
export const maxInt = 9_223_372_036_854_775_807n;
export const minInt = -9_223_372_036_854_775_808n;
const maxUint = 18_446_744_073_709_551_615n;

/**
 * RFC 3339 §5.6 `date-time`, as CEL (Go's time.RFC3339) reads it: upper-case T and Z only, and a
 * fraction of any length (`time-secfrac` is `"." 1*DIGIT`; Go keeps nine digits, this the three a
 * millisecond needs).
 */
const rfc3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:Z|([+-])(\d{2}):(\d{2}))$/;

function daysInMonth(year: number, month: number): number {
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0;
}

/** The instant `text` names in RFC 3339, to the millisecond; throws for anything else. */
function rfc3339Timestamp(text: string): Date {
  const invalid = () => new Error(`timestamp() requires an RFC 3339 date-time within years 1-9999, not ${JSON.stringify(text.slice(0, 40))}`);
  const parts = rfc3339.exec(text);
  if (parts === null) throw invalid();
  const [year, month, day, hour, minute, second] = parts.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const fraction = parts[7] ?? '';
  const [sign, offsetHours, offsetMinutes] = [parts[8], Number(parts[9] ?? 0), Number(parts[10] ?? 0)];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) throw invalid();
  if (offsetHours > 23 || offsetMinutes > 59) throw invalid();
  const date = new Date(0);
  // setUTCFullYear, not Date.UTC, which reads years 0-99 as 1900-1999.
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, Number(fraction.padEnd(3, '0').slice(0, 3)));
  const offsetMs = (sign === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000;
  const ms = date.getTime() - offsetMs;
  if (ms < minTimestampMs || ms > maxTimestampMs) throw invalid();
  return new Date(ms);
}

const nonAscii = /[\u0080-\uffff]/;

/**
 * `text` with its ASCII letters, and only those, lower-cased (or upper-cased), in time linear in
 * its length whatever it holds (a callback per run of letters took 1.7 ms on 16K characters of
 * `aAaA…`). JavaScript's own mapping changes no character of ASCII text but its letters; other
 * text is changed code unit by code unit, in a copy (lone surrogates are kept as they are).
 */
export function asciiCase(text: string, lower: boolean): string {
  if (!nonAscii.test(text)) return lower ? text.toLowerCase() : text.toUpperCase();
  const first = lower ? 0x41 : 0x61; // 'A' or 'a'
  const units = Buffer.from(text, 'utf16le');
  for (let i = 0; i < units.length; i += 2) {
    const low = units[i] ?? 0;
    if (low >= first && low < first + 26 && units[i + 1] === 0) units[i] = low ^ 0x20;
  }
  return units.toString('utf16le');
}

/** Whether UTF-16 code unit `unit` is Unicode White_Space (Go's unicode.IsSpace): all of it lies in the BMP. */
function isWhiteSpace(unit: number): boolean {
  if (unit <= 0x20) return unit === 0x20 || (unit >= 0x09 && unit <= 0x0d);
  if (unit < 0x85) return false;
  return (
    unit === 0x85 || unit === 0xa0 || unit === 0x1680 || (unit >= 0x2000 && unit <= 0x200a) ||
    unit === 0x2028 || unit === 0x2029 || unit === 0x202f || unit === 0x205f || unit === 0x3000
  );
}

/** `text` without the White_Space at either end, reading only that White_Space and one character past it. */
export function trimWhiteSpace(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isWhiteSpace(text.charCodeAt(start))) start++;
  while (end > start && isWhiteSpace(text.charCodeAt(end - 1))) end--;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

const surrogate = /[\uD800-\uDFFF]/;

/** Code points in `text`, as CEL's size() counts them (a lone surrogate is one), in one native scan when it holds no surrogates. */
function codePoints(text: string): bigint {
  const first = text.search(surrogate);
  if (first === -1) return BigInt(text.length);
  let count = text.length;
  for (let i = first; i < text.length - 1; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        count--;
        i++;
      }
    }
  }
  return BigInt(count);
}

const listSize = (list: unknown[] | Set<unknown>): bigint => BigInt(Array.isArray(list) ? list.length : list.size);
const mapSize = (map: Map<unknown, unknown> | Record<string, unknown>): bigint => BigInt(map instanceof Map ? map.size : Object.keys(map).length);
const bytesSize = (bytes: Uint8Array): bigint => BigInt(bytes.length);

function intOfDouble(value: number): bigint {
  // CEL: an error when the value is not finite or does not fit an int64 (2^63 is just above it).
  // -2^63 fits, but cel-go refuses it too (its check is `v <= MinInt64`): a condition must
  // decide alike here and there.
  if (!Number.isFinite(value) || value >= 2 ** 63 || value <= -(2 ** 63)) throw new Error('int() range error: the double does not fit an int');
  return BigInt(Math.trunc(value));
}

const leadingZeros = /0*/y;

/**
 * The digits of `text`, a decimal number with a sign if `signed` allows one, as Go's
 * strconv.ParseInt and ParseUint read it for CEL (leading zeros however many), with its leading
 * zeros left out, and the sign; undefined for anything else, or when more than `most` digits are
 * left. In one scan of the text: a pattern matching the zeros apart from the digits backtracked
 * at each zero (~2 ms for 16K zeros not followed by a digit).
 */
function decimalDigits(text: string, signed: boolean, most: number): { readonly sign: string; readonly digits: string } | undefined {
  const sign = signed && (text.startsWith('-') || text.startsWith('+')) ? text.charAt(0) : '';
  leadingZeros.lastIndex = sign.length;
  leadingZeros.exec(text);
  // The last of a number of zeros alone is its digit.
  const digits = text.slice(Math.max(sign.length, Math.min(leadingZeros.lastIndex, text.length - 1)));
  return digits.length <= most && /^\d+$/.test(digits) ? { sign, digits } : undefined;
}

function intOfString(text: string): bigint {
  // 19 digits, but for leading zeros, may fit an int64; 20 never do.
  const number = decimalDigits(text, true, 19);
  if (number === undefined) throw new Error('int() type error: cannot convert to int');
  const value = BigInt(number.sign === '-' ? `-${number.digits}` : number.digits);
  if (value > maxInt || value < minInt) throw new Error('int() range error: the string does not fit an int');
  return value;
}

function intOfUint(value: UnsignedInt): bigint {
  const int = value.valueOf();
  if (int > maxInt) throw new Error('int() range error: the uint does not fit an int');
  return int;
}

/** Seconds since 1970-01-01T00:00:00Z, rounded down, as cel-go's Unix() counts them. */
const unixSeconds = (time: Date): bigint => BigInt(Math.floor(time.getTime() / 1000));

/**
 * Registers in `env`, under `name`, the conversions to int CEL defines (langdef.md, "Standard
 * Environment") and the library lacks: of a uint, an error beyond int64, and of a timestamp, its
 * seconds since 1970. A condition calling one was refused at load ("found no matching overload
 * for 'int(uint)'"). The checking environment declares them as `int`, the evaluating one as its
 * replacement; `env` is returned.
 */
export function withIntConversions(env: Environment, name = 'int'): Environment {
  return env.registerFunction(`${name}(uint): int`, intOfUint).registerFunction(`${name}(${timestampType}): int`, unixSeconds);
}

/**
 * `value` as cel-go writes a double (Go's `%g`): the fewest digits that read back as it, in
 * exponent form, with at least two digits of exponent, where its exponent is below -4 or from 6
 * on (`1e+06`, `1.5e-05`); `+Inf`, `-Inf`, `NaN` and `-0` as Go writes them.
 */
function doubleText(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? '+Inf' : '-Inf';
  if (Object.is(value, -0)) return '-0';
  const [mantissa = '', power = ''] = value.toExponential().split('e');
  const exponent = Number(power);
  // JavaScript writes these exponents in the fewest digits without an exponent, as Go does.
  if (exponent >= -4 && exponent < 6) return String(value);
  return `${mantissa}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** `bytes` read as UTF-8, as CEL reads them; throws for bytes that are no UTF-8. */
function bytesText(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new Error('string() type error: invalid UTF-8');
  }
}

/**
 * `time` as RFC 3339 text in UTC, as cel-go writes a timestamp (Go's time.RFC3339Nano): its
 * fraction of a second without trailing zeros, none when whole (`2009-02-13T23:31:30.5Z`).
 */
function timestampText(time: Date): string {
  return time.toISOString().replace(/\.(\d*?)0*Z$/, (_, fraction: string) => (fraction === '' ? 'Z' : `.${fraction}Z`));
}

/**
 * `duration` as its seconds followed by `s`, as cel-go writes one: the double its Seconds() makes,
 * in the fewest digits that read back as it and never in exponent form, as Go's
 * strconv.FormatFloat(seconds, 'f', -1, 64) writes it (`3600s`, `1.5s`, `0.000000001s`).
 */
function durationText(duration: Duration): string {
  const nanos = duration.seconds * 1_000_000_000n + BigInt(duration.nanos);
  const seconds = Number(nanos / 1_000_000_000n) + Number(nanos % 1_000_000_000n) / 1e9;
  const shortest = String(seconds);
  // Below 1e-6, JavaScript writes a number in exponent form (`1.5e-7`); durations reach no exponent above.
  const exponent = /^(-?)(\d)(?:\.(\d+))?e-(\d+)$/.exec(shortest);
  if (exponent === null) return `${shortest}s`;
  const [, sign, first, rest = '', places] = exponent as unknown as [string, string, string, string | undefined, string];
  return `${sign}0.${'0'.repeat(Number(places) - 1)}${first}${rest}s`;
}

/**
 * Registers in `env` the conversions to string CEL defines (langdef.md, "Standard Environment")
 * and the library lacks: of a timestamp, RFC 3339 text, and of a duration, its seconds with an `s`.
 * A condition calling one was refused at load ("found no matching overload for
 * 'string(google.protobuf.Timestamp)'"). The checking environment declares them as `string`, the
 * evaluating one as its replacement; `env` is returned.
 */
export function withStringConversions(env: Environment, name = 'string'): Environment {
  return env.registerFunction(`${name}(${timestampType}): string`, timestampText).registerFunction(`${name}(${durationType}): string`, durationText);
}

function uintOfInt(value: bigint): UnsignedInt {
  if (value < 0n) throw new Error('uint() range error: the int is negative');
  return new UnsignedInt(value);
}

function uintOfDouble(value: number): UnsignedInt {
  // CEL (cel-go): an error for NaN, a negative value or one of 2^64 and more; else truncated.
  if (!(value >= 0 && value < 2 ** 64)) throw new Error('uint() range error: the double does not fit a uint');
  return new UnsignedInt(BigInt(Math.trunc(value)));
}

function uintOfString(text: string): UnsignedInt {
  // Decimal digits only, no sign; 20 digits, but for leading zeros, may fit a uint64.
  const number = decimalDigits(text, false, 20);
  if (number === undefined) throw new Error('uint() type error: cannot convert to uint');
  const value = BigInt(number.digits);
  if (value > maxUint) throw new Error('uint() range error: the string does not fit a uint');
  return new UnsignedInt(value);
}

/**
 * A decimal number as Go's strconv.ParseFloat reads one: a sign, digits with an optional point
 * (`5.`, `.5`) and exponent, no spaces, underscores or base prefix; or `inf`, `infinity` (signed
 * or not) and `nan`, in any case. Unambiguous, so a long string of digits fails in linear time.
 * Go also reads hexadecimal floats (`0x1p-2`); they are an error here.
 */
const decimalFloat = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const infinity = /^([+-]?)inf(?:inity)?$/i;

function doubleOfString(text: string): number {
  if (decimalFloat.test(text)) {
    const value = Number(text);
    // ParseFloat fails for a number beyond the largest double (it rounds one too small to 0).
    if (!Number.isFinite(value)) throw new Error('double() range error: the string does not fit a double');
    return value;
  }
  const signed = infinity.exec(text);
  if (signed !== null) return signed[1] === '-' ? -Infinity : Infinity;
  if (/^nan$/i.test(text)) return Number.NaN;
  throw new Error('double() type error: cannot convert to double');
}

const twoTo63 = 1n << 63n;

/** Nanoseconds in each unit of a duration, and the most of it a duration can hold. */
const durationUnits: ReadonlyMap<string, { readonly nanos: bigint; readonly most: bigint }> = new Map(
  ([
    ['ns', 1n],
    ['us', 1_000n],
    ['\u00B5s', 1_000n], // micro sign
    ['\u03BCs', 1_000n], // Greek mu
    ['ms', 1_000_000n],
    ['s', 1_000_000_000n],
    ['m', 60_000_000_000n],
    ['h', 3_600_000_000_000n],
  ] as const).map(([name, nanos]) => [name, { nanos, most: twoTo63 / nanos }]),
);

/** One part of a duration, from where the last one ended: digits, a fraction, a unit (anything up to a digit or point). */
const durationPart = /(\d*)(?:\.(\d*))?([^\d.]*)/y;

/**
 * The digits of a fraction as Go's time.ParseDuration keeps them: while they fit in 63 bits,
 * with the power of ten they make; the rest is read and left out.
 */
function leadingFraction(digits: string): { value: bigint; scale: number } {
  let value = 0n;
  let scale = 1;
  for (const digit of digits) {
    const next = value * 10n + BigInt(digit);
    if (value > (twoTo63 - 1n) / 10n || next > twoTo63) break;
    value = next;
    scale *= 10;
  }
  return { value, scale };
}

/**
 * A duration as Go's time.ParseDuration reads it, which CEL uses: a sign, then parts of
 * digits with an optional fraction and a unit (`1h30m`, `-1.5s`, `300ms`), or `0` alone; within
 * ±2^63 nanoseconds. One pass over the text: no part is looked for twice.
 */
function parseDuration(text: string): Duration {
  const invalid = () => new Error(`duration() requires a duration such as "1h30m" or "-1.5s", not ${JSON.stringify(text.slice(0, 40))}`);
  const negative = text.startsWith('-');
  let at = negative || text.startsWith('+') ? 1 : 0;
  if (text.slice(at) === '0') return new Duration(0n, 0);
  if (at === text.length) throw invalid();
  let total = 0n;
  while (at < text.length) {
    durationPart.lastIndex = at;
    const [part = '', whole = '', fraction = '', unitName = ''] = durationPart.exec(text) ?? [];
    const unit = durationUnits.get(unitName);
    if ((whole === '' && fraction === '') || unit === undefined) throw invalid();
    // Go fails once the digits before the point pass 2^63 (20 digits do, leading zeros aside).
    const digits = whole.length > 19 ? whole.replace(/^0+(?=\d)/, '') : whole;
    if (digits.length > 19) throw invalid();
    let nanos = BigInt(digits === '' ? 0 : digits);
    if (nanos > unit.most) throw invalid();
    nanos *= unit.nanos;
    if (fraction !== '') {
      const { value, scale } = leadingFraction(fraction);
      // As Go computes it, in float64: exact to the nanosecond for fractions of an hour.
      if (value > 0n) nanos += BigInt(Math.trunc(Number(value) * (Number(unit.nanos) / scale)));
    }
    total += nanos;
    if (nanos > twoTo63 || total > twoTo63) throw invalid();
    at += part.length;
  }
  if (!negative && total === twoTo63) throw invalid();
  const signed = negative ? -total : total;
  return new Duration(signed / 1_000_000_000n, Number(signed % 1_000_000_000n));
}

/**
 * `text` split at each `separator` into at most `limit` pieces (every one when negative, none when
 * 0), the last holding the rest, as Go's strings.SplitN does for CEL: an empty separator splits
 * between code points (a lone surrogate is one).
 */
function splitText(text: string, separator: string, limit = -1n): string[] {
  if (limit === 0n) return [];
  const pieces = separator === '' ? Array.from(text) : text.split(separator);
  if (limit < 0n || pieces.length <= limit) return pieces;
  const kept = Number(limit) - 1;
  return [...pieces.slice(0, kept), pieces.slice(kept).join(separator)];
}

function timestampOfInt(seconds: bigint): Date {
  const ms = Number(seconds) * 1000;
  if (!(ms >= minTimestampMs && ms <= maxTimestampMs)) throw new Error('timestamp() requires a unix time within years 1-9999');
  return new Date(ms);
}

/** Registers the replacements in `env`, which is returned. */
export function withSpecFunctions(env: Environment): Environment {
  return withIntConversions(withStringConversions(withTimeFields(env), 'specString'), 'specInt')
    .registerFunction('specString(string): string', (text: string) => text)
    .registerFunction('specString(bool): string', String)
    .registerFunction('specString(int): string', String)
    .registerFunction('specString(uint): string', String)
    .registerFunction('specString(double): string', doubleText)
    .registerFunction('specString(bytes): string', bytesText)
    .registerFunction('bytes.specString(): string', bytesText)
    .registerFunction('string.specLowerAscii(): string', (text: string) => asciiCase(text, true))
    .registerFunction('string.specUpperAscii(): string', (text: string) => asciiCase(text, false))
    .registerFunction('string.specTrim(): string', trimWhiteSpace)
    .registerFunction('specSize(string): int', codePoints)
    .registerFunction('string.specSize(): int', codePoints)
    .registerFunction('specSize(bytes): int', bytesSize)
    .registerFunction('bytes.specSize(): int', bytesSize)
    .registerFunction('specSize(list): int', listSize)
    .registerFunction('list.specSize(): int', listSize)
    .registerFunction('specSize(map): int', mapSize)
    .registerFunction('map.specSize(): int', mapSize)
    .registerFunction(`specTimestamp(string): ${timestampType}`, rfc3339Timestamp)
    .registerFunction(`specTimestamp(int): ${timestampType}`, timestampOfInt)
    .registerFunction('specInt(int): int', (value: bigint) => value)
    .registerFunction('specInt(double): int', intOfDouble)
    .registerFunction('specInt(string): int', intOfString)
    .registerFunction('specUint(uint): uint', (value: UnsignedInt) => value)
    .registerFunction('specUint(int): uint', uintOfInt)
    .registerFunction('specUint(double): uint', uintOfDouble)
    .registerFunction('specUint(string): uint', uintOfString)
    .registerFunction('specDouble(double): double', (value: number) => value)
    .registerFunction('specDouble(int): double', (value: bigint) => Number(value))
    .registerFunction('specDouble(uint): double', (value: UnsignedInt) => Number(value.valueOf()))
    .registerFunction('specDouble(string): double', doubleOfString)
    .registerFunction(`specDuration(string): ${durationType}`, parseDuration)
    .registerFunction('string.specSplit(string): list<string>', (text: string, separator: string) => splitText(text, separator))
    .registerFunction('string.specSplit(string, int): list<string>', splitText);
}
