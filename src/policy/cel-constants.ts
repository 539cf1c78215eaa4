import { boundNames, comprehensionOf, isAstNode, writtenOf } from './cel-ast.js';

/** The operators that may leave an operand unevaluated, or its error unseen: `false && 1/0` is false. */
const sparing = new Set(['&&', '||', '?:']);

/**
 * The names in `ast` that read no variable: `google`, the library's constant holding the types
 * `google.protobuf.Timestamp` and `Duration` (and no other: `google.protobuf.Any` is an error on
 * every request), unless a comprehension in `ast` binds a variable so named.
 */
function constantNames(ast: unknown): ReadonlySet<string> {
  return new Set(boundNames(ast).has('google') ? [] : ['google']);
}

/** Whether `node` reads no variable but the names in `bound`: a comprehension binds its own in its steps. */
function readsOnly(node: unknown, bound: ReadonlySet<string>): boolean {
  if (Array.isArray(node)) return node.every((item) => readsOnly(item, bound));
  if (!isAstNode(node)) return true;
  if (node.op === 'id') return typeof node.args === 'string' && bound.has(node.args);
  const comprehension = comprehensionOf(node);
  if (comprehension === undefined) return readsOnly(node.args, bound);
  return readsOnly(comprehension.range, bound) && readsOnly(comprehension.steps, new Set([...bound, comprehension.variable]));
}

/** A part of a condition that reads no variable. */
export interface ConstantPart {
  /** The part, as the condition writes it (see `writtenOf`). */
  readonly written: string;
  /** The parts in it that read no variable, but literals: when it fails, the one that fails too names the error more closely. */
  readonly within: readonly ConstantPart[];
}

/**
 * The parts of `ast`, a condition written as `source`, that read no variable (`1/0`,
 * `{"a": 1}["b"]`, `[1, 2, 3].map(x, x * 2)`, `timestamp("2030-01-01")`): each has one value,
 * or one error, on every request. Evaluated once at load, a part that fails shows a condition
 * that fails wherever it reaches it: a deny rule that applies with a condition_error, and a
 * permit that never applies.
 *
 * A part is listed where it is largest, and again under an operator that may not evaluate it or
 * may absorb its error (`&&`, `||`, `? :`, and a comprehension's steps, run once per element):
 * so `false && 1/0 == 1` lists `1/0 == 1`, which fails, though the whole is false. A literal
 * alone is left out. Evaluating each part listed evaluates a node once more for each such
 * operator above it, at most, and the parts `within` one are evaluated only when it fails.
 */
export function constantParts(ast: unknown, source: string): ConstantPart[] {
  const parts: ConstantPart[] = [];
  const constants = constantNames(ast);
  /** The largest parts in `node`, inside a part already listed or not, listing those that are not. */
  const collect = (node: unknown, listed: boolean): ConstantPart[] => {
    if (Array.isArray(node)) return node.flatMap((item) => collect(item, listed));
    if (!isAstNode(node) || node.op === 'value') return [];
    const written = listed || readsOnly(node, constants) ? writtenOf(node, source) : undefined;
    const inside = listed || written !== undefined;
    const comprehension = comprehensionOf(node);
    const within = comprehension === undefined
      ? collect(node.args, inside && !sparing.has(node.op))
      : [...collect(comprehension.range, inside), ...collect(comprehension.steps, false)];
    if (written === undefined) return within;
    const part = { written, within };
    if (!listed) parts.push(part);
    return [part];
  };
  collect(ast, false);
  return parts;
}
