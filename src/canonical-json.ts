const arrayIndex = /^(?:0|[1-9]\d{0,9})$/;
const cannot = Symbol('cannot');

/** True for keys JavaScript enumerates before all others (array indices); a digit first is rare. */
function isArrayIndex(key: string): boolean {
  const first = key.charCodeAt(0);
  return first >= 48 && first <= 57 && arrayIndex.test(key);
}

/**
 * A copy of `value` whose JSON.stringify is its canonical form: plain objects rebuilt with
 * their keys in sorted order, anything already in order kept as is. `cannot` when
 * JSON.stringify would not follow that order (an object with array-index keys, which
 * JavaScript always enumerates first, in numeric order), a copy could not hold a key
 * (`__proto__`), the value is not JSON data (a number JSON cannot hold among them), or it
 * holds -0, which JSON.stringify writes as 0.
 */
function sortedCopy(value: unknown): unknown {
  // -0 === 0, so only a zero pays for the sign test.
  if (typeof value === 'number') return Number.isFinite(value) && (value !== 0 || Object.is(value, 0)) ? value : cannot;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value !== 'object') return cannot;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      // A hole is written as nothing by the member-by-member walk.
      if (item === undefined && !(i in value)) return cannot;
      const next = item === undefined ? null : sortedCopy(item);
      if (next === cannot) return cannot;
      if (next !== item) (copy ??= value.slice())[i] = next;
    }
    return copy ?? value;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return cannot;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  let inOrder = true;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    // `__proto__` would set the copy's prototype rather than become its member.
    if (isArrayIndex(key) || key === '__proto__') return cannot;
    if (i > 0 && (keys[i - 1] as string) > key) inOrder = false;
  }
  if (!inOrder) keys.sort();
  let copy: Record<string, unknown> | undefined;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const member = record[key];
    const next = member === undefined ? member : sortedCopy(member);
    if (next === cannot) return cannot;
    if (copy === undefined && (!inOrder || next !== member || member === undefined)) {
      copy = {};
      for (let j = 0; j < i; j++) copy[keys[j] as string] = record[keys[j] as string];
    }
    if (copy !== undefined && next !== undefined) copy[key] = next;
  }
  return copy ?? record;
}

function canonicalWalk(value: unknown): string {
  if (typeof value === 'number') {
    // JSON.stringify writes these as null and -0 as 0, which would make them hash like
    // null and 0; CEL tells -0 from 0 (1.0 / x is -Infinity for one, +Infinity for the other).
    if (Object.is(value, -0)) return '-0';
    if (!Number.isFinite(value)) return String(value);
  }
  if (value === null || typeof value !== 'object') {
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) {
    return `[${value.map((item) => (item === undefined ? 'null' : canonicalWalk(item))).join(',')}]`;
  }
  const record = value as Record<string, unknown>;
  const members: string[] = [];
  for (const key of Object.keys(record).sort()) {
    const member = record[key];
    if (member !== undefined) members.push(`${JSON.stringify(key)}:${canonicalWalk(member)}`);
  }
  return `{${members.join(',')}}`;
}

/**
 * `value` with the members of every plain object in sorted key order, the order the canonical
 * form writes them in, copied only where they were not: equal values in canonical form come out
 * iterating their members alike, whatever order the keys arrived in. Array-index keys, which
 * JavaScript always enumerates first, stay first: still one order for one set of keys.
 */
export function inKeyOrder(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const next = inKeyOrder(item);
      if (next !== item) (copy ??= value.slice())[i] = next;
    }
    return copy ?? value;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  let changed = false;
  for (let i = 1; i < keys.length && !changed; i++) changed = (keys[i - 1] as string) > (keys[i] as string);
  if (changed) keys.sort();
  const members = keys.map((key): [string, unknown] => {
    const member = record[key];
    const next = inKeyOrder(member);
    if (next !== member) changed = true;
    return [key, next];
  });
  // fromEntries makes `__proto__` a member, as JSON.parse does, not the copy's prototype.
  return changed ? Object.fromEntries(members) : record;
}

/**
 * Serialises a JSON value with object keys sorted at every depth, so equal values hash
 * equally whatever order their keys arrived in. `undefined` members are dropped, as JSON does;
 * numbers JSON cannot hold are written `Infinity`, `-Infinity` and `NaN`, text no JSON value
 * can be, so a key made of them never equals one made of `null`; -0 is written `-0`, so it
 * never equals 0.
 * JSON data is put in key order and handed to JSON.stringify in one go, several times faster
 * than serialising member by member; the rare value that cannot be (array-index keys, -0,
 * non-JSON values) is walked member by member. Both give the same text.
 */
export function canonicalJson(value: unknown): string {
  const sorted = sortedCopy(value);
  if (sorted === cannot) return canonicalWalk(value);
  return JSON.stringify(sorted) ?? 'null';
}

/** Whether `canonicalJsonParts` writes `value` a member at a time: an array, or a plain object. */
function hasMembers(value: unknown): value is Record<string, unknown> | readonly unknown[] {
  if (Array.isArray(value)) return true;
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * `canonicalJson(value)` in parts that join into that same text: arrays and plain objects down
 * to `depth` levels are written a member at a time, anything deeper whole. Hashing a large value
 * part by part lets the event loop turn in between.
 */
export function* canonicalJsonParts(value: unknown, depth: number): Generator<string, void, void> {
  if (depth <= 0 || !hasMembers(value)) {
    yield canonicalJson(value);
    return;
  }
  if (Array.isArray(value)) {
    yield '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) yield ',';
      // A hole is written as nothing, as the member-by-member walk does.
      if (i in value) yield* canonicalJsonParts(value[i] ?? null, depth - 1);
    }
    yield ']';
    return;
  }
  const record = value as Record<string, unknown>;
  let separator = '{';
  for (const key of Object.keys(record).sort()) {
    const member = record[key];
    if (member === undefined) continue;
    yield `${separator}${JSON.stringify(key)}:`;
    separator = ',';
    yield* canonicalJsonParts(member, depth - 1);
  }
  yield separator === '{' ? '{}' : '}';
}
