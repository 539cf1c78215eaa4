/** Every key at its level of a path: `*` written as a segment, not the key `["*"]`. */
export const anyKey: unique symbol = Symbol('any key');

/** A path split into keys; `anyKey` stands for every key at that level. */
export type MaskPath = readonly (string | typeof anyKey)[];

/**
 * After the first key: `.key`, or `["key"]` (a JSON string, RFC 8259 §7: any character but `"`,
 * `\` and the controls below U+0020, or an escape JSON has, not `\x41`) for a key holding dots or
 * brackets.
 */
const segment = /\.([^.\s"[\]]+)|\[("(?:[\x20\x21\x23-\x5b\x5d-\u{10ffff}]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*")\]/uy;

/** Where a path may start: the parts of a decision an audit line holds. */
const roots: ReadonlySet<string> = new Set(['subject', 'action', 'resource', 'context']);

/**
 * Splits `subject.properties.email`, or `subject.properties["https://idp.example/email"]` for a
 * namespaced claim, into its keys; undefined for anything else (another root, no key after it,
 * an empty segment, a bracket left open). The configuration is checked with this same parse.
 */
export function maskPath(path: string): MaskPath | undefined {
  const root = /^[^.[]*/.exec(path)?.[0] ?? '';
  if (!roots.has(root)) return undefined;
  const keys: (string | typeof anyKey)[] = [root];
  segment.lastIndex = root.length;
  while (segment.lastIndex < path.length) {
    const found = segment.exec(path);
    if (found === null) return undefined;
    // A key in brackets is that key, `["*"]` included.
    keys.push(found[1] === undefined ? (JSON.parse(found[2] ?? '""') as string) : found[1] === '*' ? anyKey : found[1]);
  }
  return keys.length > 1 ? keys : undefined;
}

function maskAt(value: unknown, path: MaskPath, depth: number, censor: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const record = value as Record<string, unknown>;
  const key = path[depth] ?? '';
  const last = depth === path.length - 1;
  if (key !== anyKey) {
    // A member of the JSON value, as `*` below takes them (Object.keys): an array's `length` is
    // an own property but no member, and a path ending in it (`….dimensions.length`, sent as a
    // list) set it to the censor, which threw, and the decision's line was lost.
    if (!Object.prototype.propertyIsEnumerable.call(record, key)) return value;
    const next = last ? censor : maskAt(record[key], path, depth + 1, censor);
    return next === record[key] ? value : replaced(record, key, next);
  }
  // One copy for every member masked: a copy per member was quadratic in their number.
  let copy: Record<string, unknown> | undefined;
  for (const k of Object.keys(record)) {
    const next = last ? censor : maskAt(record[k], path, depth + 1, censor);
    if (next !== record[k]) (copy ??= copied(record))[k] = next;
  }
  return copy ?? record;
}

function copied(record: Record<string, unknown>): Record<string, unknown> {
  return (Array.isArray(record) ? [...record] : { ...record }) as Record<string, unknown>;
}

function replaced(record: Record<string, unknown>, key: string, next: unknown): Record<string, unknown> {
  const copy = copied(record);
  copy[key] = next;
  return copy;
}

/**
 * `value` with whatever sits at each path replaced by `censor`. Copies only the objects on
 * the way to a masked value and returns `value` itself when no path is present, so
 * the common case (nothing to mask) costs a few lookups and the input is never changed.
 */
export function masked<T>(value: T, paths: readonly MaskPath[], censor: unknown): T {
  let result: unknown = value;
  for (const path of paths) result = maskAt(result, path, 0, censor);
  return result as T;
}
