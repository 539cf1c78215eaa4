import { UnsignedInt } from '@marcbachmann/cel-js/evaluator';
import { forEachNode, operatorOf, setEvaluation, type BoundNode, type Evaluator } from './cel-ast.js';
import { celTypeName, isMap } from './cel-type-name.js';

/**
 * Map keys as CEL types them (langdef.md, "Aggregate Values"): an int, uint, bool or string, a
 * key of one type never being a key of another, but for numbers, which compare by value (`{1:
 * "a"}[1u]` and `[1.0]` find "a"). The library (cel-js 8) builds every map literal as a
 * JavaScript object, whose keys are strings, and looks keys up as object members: `{1: "a"}`
 * was `{"1": "a"}`, so `{1: "a"}["1"]` found "a", as did `context.approvals[1]` and `1 in
 * context.approvals` for a request's `{"1": …}`; a literal's keys `constructor`, `__proto__` and
 * `prototype` were dropped, and a key given twice replaced the first where CEL fails. Here a map
 * literal with any other key than a string is a Map, its int and uint keys held as BigInts (a
 * uint key iterates as an int: a comprehension typed by it fails, as it did on the string); a key
 * other than a string finds nothing in a map with string keys. The library compares a Map with
 * an object by the Map's keys as strings (`{1: "a"} == {"1": "a"}` held): see `keysApart`.
 */

const reservedKeys = new Set(['constructor', '__proto__', 'prototype']);

/** `key` as a Map built here holds it (a number as a BigInt), or undefined for a number that is no integer. */
function heldKey(key: unknown): unknown {
  if (key instanceof UnsignedInt) return key.valueOf();
  if (typeof key === 'number') return Number.isInteger(key) ? BigInt(key) : undefined;
  return key;
}

/** The value of `key` in `map`, a key other than a string; undefined when it has none. */
function valueAt(map: Map<unknown, unknown> | Record<string, unknown>, key: unknown): unknown {
  return map instanceof Map ? map.get(heldKey(key)) : undefined;
}

/** Whether `key`, not a string, is a key of `map`. */
export function hasKey(map: Map<unknown, unknown> | Record<string, unknown>, key: unknown): boolean {
  return valueAt(map, key) !== undefined;
}

/**
 * Whether `a` and `b`, which the library finds equal, hold in one place two maps with different
 * keys: a Map with a key other than a string and an object, whose keys are strings (CEL holds
 * them unequal), or a map with a key the other object only inherits. The library looks each key
 * of one map up in the other with `in`, which finds `__proto__` in every object (its prototype,
 * an empty map to the library): a request's `{"__proto__": {}}` equalled `{"region": "EU"}`.
 * Reads no more of them than the library's comparison did.
 */
export function keysApart(a: unknown, b: unknown): boolean {
  if (Array.isArray(a)) return Array.isArray(b) && a.some((item, i) => keysApart(item, b[i]));
  if (a instanceof Map && b instanceof Map) return [...a].some(([key, value]) => keysApart(value, b.get(key)));
  if (a instanceof Map || b instanceof Map) {
    const [map, object] = (a instanceof Map ? [a, b] : [b, a]) as [Map<unknown, unknown>, unknown];
    if (!isMap(object) || object instanceof Map) return false;
    return [...map].some(([key, value]) => typeof key !== 'string' || !Object.hasOwn(object, key) || keysApart(value, object[key]));
  }
  if (!isMap(a) || !isMap(b) || a instanceof Map || b instanceof Map) return false;
  return Object.keys(a).some((key) => !Object.hasOwn(b, key) || keysApart(a[key], b[key]));
}

/** A map literal's entries, a Map unless every key is a string an object can hold; an error for a key twice, or of no key type. */
function mapLiteral(ev: Evaluator, node: BoundNode, ctx: unknown): unknown {
  const entryNodes = node.args as readonly (readonly [unknown, unknown])[];
  const entries = entryNodes.map(([keyNode, valueNode]) => [ev.run(keyNode, ctx), ev.run(valueNode, ctx)] as const);
  const asObject = entries.every(([key]) => typeof key === 'string' && !reservedKeys.has(key));
  const map = new Map<unknown, unknown>();
  for (const [key, value] of entries) {
    if (typeof key !== 'string' && typeof key !== 'boolean' && typeof key !== 'bigint' && !(key instanceof UnsignedInt)) {
      throw new Error('a map key must be an int, uint, bool or string');
    }
    const held = heldKey(key);
    if (map.has(held)) throw new Error(`duplicate map key: ${String(key)}`);
    map.set(held, value);
  }
  return asObject ? Object.fromEntries(map) : map;
}

/** The least int, -2^63, a double exactly: the doubles that are ints lie in [-2^63, 2^63). */
const minIntDouble = -(2 ** 63);

/**
 * Why `key`, an int or a double, is no index into `list`; undefined when it is one. A double that
 * is not whole (NaN and the infinities among them) is no index at all, as in cel-go: the library
 * reported 0.5 as past the end (`index 0.5 >= size 2`), -0.5 as below 0. Past either end the error
 * names the index as written, and the list's size, which the library wrote as `size undefined` for
 * an empty list (`subject.roles[1]` of a subject with no roles) and `-9223372036854775807` as a
 * double (`-9223372036854776000`). A whole double beyond an int (`1e300`) is no index either, as
 * in cel-go, where the library reported it out of bounds.
 */
function notAnIndex(list: readonly unknown[], key: bigint | number): string | undefined {
  if (typeof key === 'number' && !(Number.isInteger(key) && key >= minIntDouble && key < -minIntDouble)) return `unsupported index value ${key} in list`;
  if (key < 0) return `No such key: index out of bounds, index ${String(key)} < 0`;
  return Number(key) >= list.length ? `No such key: index out of bounds, index ${String(key)} >= size ${list.length}` : undefined;
}

const maxInt = 2n ** 63n - 1n;

/**
 * `key` as an index into `list` that the library reads: a uint as an int, which the library
 * looked up as a map key (`No such key: 1` for `context.items[1u]`, where cel-go reads the
 * element), one beyond an int being no index, as in cel-go. Throws for an int or a double that
 * is no index into `list` (`notAnIndex`), and for a value that is no number, naming its type as
 * cel-go does: the library looked it up as a map key (`No such key: a` for a string).
 */
function listIndex(list: readonly unknown[], key: unknown): bigint | number {
  const number = key instanceof UnsignedInt ? key.valueOf() : key;
  if (typeof number === 'bigint' && number > maxInt) throw new Error(`unsupported index value ${number} in list`);
  if (typeof number !== 'bigint' && typeof number !== 'number') throw new Error(`unsupported index type '${celTypeName(key)}' in list`);
  const failure = notAnIndex(list, number);
  if (failure !== undefined) throw new Error(failure);
  return number;
}

/**
 * `e[k]`: for a list, the element at the index `listIndex` makes of `k`; for a key other than a
 * string in a map, the value of that key or an error; anything else as the library reads it.
 */
function index(ev: Evaluator, node: BoundNode, ctx: unknown): unknown {
  const [containerNode, keyNode] = node.args as [unknown, unknown];
  const container = ev.run(containerNode, ctx);
  const key = ev.run(keyNode, ctx);
  if (Array.isArray(container)) return operatorOf(node)(container, listIndex(container, key), node, ev);
  if (typeof key === 'string' || !isMap(container)) return operatorOf(node)(container, key, node, ev);
  const value = valueAt(container, key);
  if (value === undefined) throw new Error(`No such key: ${String(key)}`);
  return value;
}

/** Sets the evaluations of map literals and lookups on the nodes of `ast`, a condition parsed and not yet evaluated. */
export function typedMapKeys(ast: unknown): void {
  forEachNode(ast, (node) => {
    if (node.op === 'map') setEvaluation(node, mapLiteral);
    if (node.op === '[]') setEvaluation(node, index);
  });
}
