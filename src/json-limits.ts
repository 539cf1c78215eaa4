import { BACKSLASH, closingQuote, CLOSE_ARRAY, CLOSE_OBJECT, COLON, COMMA, OPEN_ARRAY, OPEN_OBJECT, QUOTE } from './json-chars.js';

/**
 * Bounds on the JSON a caller may hand the service (request bodies and token claims).
 * They keep every later step (schema checks, hashing, logging, CEL conditions) linear
 * and shallow: nothing that walks the data can overflow the stack, and no condition
 * can iterate over more than `maxCollection` elements of caller data.
 */
export interface JsonLimits {
  /** Deepest nesting of arrays and objects; the top-level value is depth 1. */
  readonly maxDepth: number;
  /** Most elements in one array, or members in one object. */
  readonly maxCollection: number;
  /** Longest string value or object key, in UTF-16 code units. */
  readonly maxString: number;
}

/** The limits in force; policy conditions are checked against the same figures at load. */
export const jsonLimits: JsonLimits = Object.freeze({ maxDepth: 64, maxCollection: 1000, maxString: 16_384 });

/** Where the JSON breaks a limit, as a path from the root (`["context", "items"]`), and how. */
export interface JsonLimitViolation {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

interface Frame {
  readonly array: boolean;
  index: number;
  keyStart: number;
  keyEnd: number;
}

function frameKey(text: string, frame: Frame): string | number {
  if (frame.array) return frame.index;
  try {
    return JSON.parse(text.slice(frame.keyStart, frame.keyEnd)) as string;
  } catch {
    return '?';
  }
}

/** `budget` less the number of times `opener` occurs in `text`; negative once it runs out. */
function atMostOpeners(text: string, opener: string, budget: number): number {
  let left = budget;
  for (let at = text.indexOf(opener); at !== -1 && left >= 0; at = text.indexOf(opener, at + 1)) left--;
  return left;
}

/**
 * Whether JSON text nests deeper than `maxDepth`, as `findDepthViolation` counts (a closing
 * bracket with none open counts for nothing), without keeping the path: strings are skipped to
 * their closing quote natively (`closingQuote`), so a large file of many brackets (a policy or data file of
 * megabytes) is settled in under half the time of the scan that keeps it.
 */
function nestsDeeperThan(text: string, maxDepth: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = closingQuote(text, i);
      if (i === -1) return false;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > maxDepth) return true;
    } else if ((c === CLOSE_OBJECT || c === CLOSE_ARRAY) && depth > 0) {
      depth--;
    }
  }
  return false;
}

/**
 * Scans JSON text for nesting deeper than `maxDepth` without parsing it: no recursion,
 * stopping at the first container too deep. Run before `JSON.parse`, it turns
 * away a megabyte of `[[[[…` for the cost of reading 64 characters. Text that is not
 * JSON is left for the parser to reject. Text with no more than `maxDepth` brackets cannot
 * nest deeper, whatever they are: counting them (natively, with `indexOf`) settles the usual
 * small body for a fraction of the character-by-character scan, and `nestsDeeperThan` text of
 * many brackets; the path is looked for only in text that breaks the limit.
 */
export function findDepthViolation(text: string, maxDepth: number = jsonLimits.maxDepth): JsonLimitViolation | undefined {
  if (atMostOpeners(text, '{', atMostOpeners(text, '[', maxDepth)) >= 0) return undefined;
  if (!nestsDeeperThan(text, maxDepth)) return undefined;
  const stack: Frame[] = [];
  let stringStart = -1;
  let stringEnd = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      stringStart = i;
      i++;
      while (i < text.length) {
        const d = text.charCodeAt(i);
        if (d === BACKSLASH) i += 2;
        else if (d === QUOTE) break;
        else i++;
      }
      stringEnd = i + 1;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (stack.length === maxDepth) {
        return { path: stack.map((frame) => frameKey(text, frame)), message: `nested deeper than ${maxDepth} levels` };
      }
      stack.push({ array: c === OPEN_ARRAY, index: 0, keyStart: 0, keyEnd: 0 });
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      stack.pop();
    } else if (c === COMMA) {
      const top = stack.at(-1);
      if (top?.array === true) top.index++;
    } else if (c === COLON) {
      const top = stack.at(-1);
      if (top !== undefined && !top.array) {
        top.keyStart = stringStart;
        top.keyEnd = stringEnd;
      }
    }
  }
  return undefined;
}

/**
 * Whether JSON text this long could break the collection or string limits at all. No string
 * or key is longer than the text holding it, and n array elements or object members take at
 * least 2n + 1 characters (n values, n - 1 commas, two brackets), so the walk of
 * `findLimitViolation` can be skipped for short text, such as the usual request body.
 */
export function mayBreakSizeLimits(textLength: number, limits: JsonLimits = jsonLimits): boolean {
  return textLength > limits.maxString || textLength > 2 * limits.maxCollection;
}

/**
 * Whether JSON text could hold a number a double does not hold exactly (see `findInexactNumber`),
 * one beyond its range (`1e400`) among them. A number token (which starts the text or follows
 * `:`, `,`, `[` or whitespace) of at most 15 digits and no exponent is always a double exactly, so
 * only text with a token of 16 or more digits (one decimal point among them) or an exponent needs
 * the walks that find such numbers; a string that only looks like one (`": 1e"` inside a string)
 * costs no more than those walks. A string id of digits (`"9007199254740993"`) follows a quote, and
 * a hex id's digit before an `e` no delimiter, so bodies of such ids are not walked. One plain
 * scan, ~0.4 µs for a 370-character body: no more than the two it replaced, which looked for
 * exponents and runs of 309 digits alone.
 */
export function mayHoldInexactNumber(text: string): boolean {
  return oddNumberToken.test(text);
}

const oddNumberToken = /(?:^|[:,[\s])-?(?:\d+(?:\.\d+)?[eE]|(?:\d\.?){15}\d)/;

/**
 * Checks a parsed JSON value against every limit: depth, collection sizes, string lengths
 * and numbers a double cannot hold (read as infinities), and reports the first violation
 * found with its path. Recursive, but never deeper than `maxDepth + 1` calls: a container
 * beyond the limit is reported, not entered. The path is built only on the way back from a
 * violation, so a value within the limits costs no allocation.
 */
export function findLimitViolation(value: unknown, limits: JsonLimits = jsonLimits): JsonLimitViolation | undefined {
  const found = violationIn(value, 1, limits);
  if (found === undefined) return undefined;
  found.path.reverse();
  return found;
}

interface Found {
  /** From the violation up to the root; reversed before it is returned. */
  readonly path: (string | number)[];
  readonly message: string;
}

function violationIn(value: unknown, depth: number, limits: JsonLimits): Found | undefined {
  // JSON.parse reads a number too large for a double (1e400) as Infinity, which JSON cannot
  // write back: every later step (conditions, cache keys, the audit line) would see it changed.
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : { path: [], message: 'number beyond the range of a double' };
  if (typeof value === 'string') {
    return value.length > limits.maxString ? { path: [], message: `string longer than ${limits.maxString} characters` } : undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  if (depth > limits.maxDepth) return { path: [], message: `nested deeper than ${limits.maxDepth} levels` };
  if (Array.isArray(value)) {
    if (value.length > limits.maxCollection) return { path: [], message: `array longer than ${limits.maxCollection} elements` };
    for (let index = 0; index < value.length; index++) {
      const found = violationIn(value[index], depth + 1, limits);
      if (found !== undefined) {
        found.path.push(index);
        return found;
      }
    }
    return undefined;
  }
  const keys = Object.keys(value);
  if (keys.length > limits.maxCollection) return { path: [], message: `object with more than ${limits.maxCollection} members` };
  for (const key of keys) {
    if (key.length > limits.maxString) return { path: [], message: `key longer than ${limits.maxString} characters` };
    const found = violationIn((value as Record<string, unknown>)[key], depth + 1, limits);
    if (found !== undefined) {
      found.path.push(key);
      return found;
    }
  }
  return undefined;
}
