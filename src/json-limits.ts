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

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

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

/**
 * Scans JSON text for nesting deeper than `maxDepth` without parsing it: one pass, no
 * recursion, stopping at the first container too deep. Run before `JSON.parse`, it turns
 * away a megabyte of `[[[[…` for the cost of reading 64 characters. Text that is not
 * JSON is left for the parser to reject.
 */
export function findDepthViolation(text: string, maxDepth: number = jsonLimits.maxDepth): JsonLimitViolation | undefined {
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

interface Pending {
  readonly value: unknown;
  readonly depth: number;
  readonly parent: Pending | undefined;
  readonly key: string | number | undefined;
}

function pathOf(node: Pending): (string | number)[] {
  const path: (string | number)[] = [];
  for (let at: Pending | undefined = node; at?.key !== undefined; at = at.parent) path.push(at.key);
  return path.reverse();
}

/**
 * Checks a parsed JSON value against every limit: depth, collection sizes and string
 * lengths. Iterative (an explicit stack), so any depth is safe to walk; it reports the
 * first violation found with its path.
 */
export function findLimitViolation(value: unknown, limits: JsonLimits = jsonLimits): JsonLimitViolation | undefined {
  const stack: Pending[] = [{ value, depth: 1, parent: undefined, key: undefined }];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    const current = node.value;
    if (typeof current === 'string') {
      if (current.length > limits.maxString) {
        return { path: pathOf(node), message: `string longer than ${limits.maxString} characters` };
      }
      continue;
    }
    if (typeof current !== 'object' || current === null) continue;
    if (node.depth > limits.maxDepth) {
      return { path: pathOf(node), message: `nested deeper than ${limits.maxDepth} levels` };
    }
    const depth = node.depth + 1;
    if (Array.isArray(current)) {
      if (current.length > limits.maxCollection) {
        return { path: pathOf(node), message: `array longer than ${limits.maxCollection} elements` };
      }
      current.forEach((item: unknown, index) => stack.push({ value: item, depth, parent: node, key: index }));
      continue;
    }
    const keys = Object.keys(current);
    if (keys.length > limits.maxCollection) {
      return { path: pathOf(node), message: `object with more than ${limits.maxCollection} members` };
    }
    for (const key of keys) {
      if (key.length > limits.maxString) {
        return { path: pathOf(node), message: `key longer than ${limits.maxString} characters` };
      }
      stack.push({ value: (current as Record<string, unknown>)[key], depth, parent: node, key });
    }
  }
  return undefined;
}
