/**
 * Where a condition is evaluated more strictly than cel-js 8 evaluates it. The library has no
 * way to replace an operator, so the evaluation of the nodes concerned is set on the parsed
 * condition (`setMeta`), before it is first evaluated (which binds each node to it):
 * - `e in list` with a list or map on its left is an error. The library compares such an item
 *   with each element in full, so `items.all(i, i in approved)` over two request lists of
 *   lists took 7.5 s on a 1 MB body, where cel-cost.ts charges one step per element; a
 *   string, number, bool, null or time on the left is compared with each element in one step.
 *   A number is found in a list by value, an int, uint or double alike, as `==` compares them:
 *   the library held a uint unequal to an int or double there.
 * - `has(e.f)` is an error when `e` is not a map, as CEL defines it (a message has none here).
 *   The library answers false for a string, number, list or null, so a deny rule
 *   `has(subject.properties.act.sub)` did not apply to an `act` claim holding a string.
 * - `==` and `!=` between two lists or maps read at most `maxComparedValues` of their values in
 *   one decision, all the conditions it evaluates together, then are an error. The library
 *   compares them in full, and cel-cost.ts charges a comparison one step:
 *   `context.k.all(x, context.a == context.b)`, two equal request lists of 140,000 values
 *   compared once per element of a third, held the event loop for 7.8 s on an 848 KB body.
 * - `||`, `&&`, `all` and `exists` go on past an error, as CEL defines them, at most
 *   `maxAbsorbedErrors` times in one decision; then each of them is an error without evaluating
 *   what it would have gone on to. The library makes each error with its message, where in the
 *   condition (reading its text up to there), and a stack: 2-36 µs, hundreds of the steps
 *   cel-cost.ts charges. So 60 conversions failing on each element of a 1,000-element request
 *   list, in five conditions loading at 240,000 steps each, held the event loop 3-10 s.
 */

import { UnsignedInt } from '@marcbachmann/cel-js/evaluator';
import { forEachNode, onOperands, operatorOf, setEvaluation, type AstNode, type BoundNode, type Evaluator } from './cel-ast.js';
import { hasKey, keysApart } from './cel-map-keys.js';
import { isMap } from './cel-type-name.js';
import { libraryEvaluator } from './cel-runtime-types.js';

/** A parsed node, with the macro the parser made of a call such as `has()`, replaceable before its first evaluation. */
interface MacroNode extends AstNode {
  readonly meta?: { readonly macro?: unknown };
  setMeta?(key: 'macro', value: HasMacro): unknown;
}

/** The library's `has()` macro: its type check records the selection it tests. */
interface HasMacro {
  /** `e.f` as the selections it is made of, the outermost first, down to the variable `e` starts from. */
  readonly macroHasProps?: readonly { readonly args: readonly [unknown, string] }[];
  readonly evaluate: (ev: Evaluator, macro: HasMacro, ctx: unknown) => unknown;
}

function isHasMacro(value: unknown): value is HasMacro {
  return typeof value === 'object' && value !== null && typeof (value as { evaluate?: unknown }).evaluate === 'function';
}

/** A list or map as the library types values: an array or Set, a Map, or a plain object. */
function isListOrMap(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value) || value instanceof Map || value instanceof Set) return true;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value) || value instanceof Set) return 'a list';
  if (value instanceof Date) return 'a timestamp';
  switch (typeof value) {
    case 'string':
      return 'a string';
    case 'number':
    case 'bigint':
      return 'a number';
    case 'boolean':
      return 'a bool';
    default:
      return 'a value of another type';
  }
}

/**
 * `has(e.f)`: whether map `e` has key `f`, as the library reads it (a member holding `undefined`
 * is absent), and an error when `e` is not a map, or when a selection before it finds no key.
 */
function presence(ev: Evaluator, macro: HasMacro, ctx: unknown): boolean {
  const selections = macro.macroHasProps;
  const start = selections?.at(-1);
  if (selections === undefined || start === undefined) throw new Error('has() is not bound to its selection: the CEL library has changed');
  let value = ev.run(start, ctx);
  for (let i = selections.length - 2; i >= 0; i--) {
    const key = selections[i]?.args[1] ?? '';
    if (!isMap(value)) throw new Error(`has() needs a map to look up ${JSON.stringify(key)} in, got ${kindOf(value)}`);
    value = value instanceof Map ? value.get(key) : Object.hasOwn(value, key) ? value[key] : undefined;
    if (value === undefined) {
      if (i === 0) return false;
      throw new Error(`No such key: ${key}`);
    }
  }
  return true;
}

/** A number's value, whether an int, uint or double, which CEL compares by value; undefined for anything else. */
function numberValue(value: unknown): number | bigint | undefined {
  if (value instanceof UnsignedInt) return value.valueOf();
  return typeof value === 'number' || typeof value === 'bigint' ? value : undefined;
}

/** Whether `list` holds a number of the value `number` (NaN equals nothing), whatever their types. */
function holdsNumber(list: readonly unknown[], number: number | bigint): boolean {
  return list.some((element) => {
    const value = numberValue(element);
    return value !== undefined && value >= number && value <= number;
  });
}

/**
 * `item in collection`, as the library evaluates it, once the item is known not to be a list or
 * map; a number in a list by value. The library's list lookup holds a uint unequal to an int or
 * double of its value, though `==` finds them equal: `uint(resource.properties.account) in
 * context.blocked` was false for an account `13` blocked as `[13]`, and a deny rule did not apply.
 */
function scalarMembership(ev: Evaluator, node: BoundNode, ctx: unknown): unknown {
  const [itemNode, collectionNode] = node.args as [unknown, unknown];
  const item = ev.run(itemNode, ctx);
  if (isListOrMap(item)) {
    throw new Error('`in` needs a string, number, bool, null or time on its left, not a list or map');
  }
  const collection = ev.run(collectionNode, ctx);
  // The library looks any key up as an object member, `1` as "1" (cel-map-keys.ts).
  if (typeof item !== 'string' && isMap(collection)) return hasKey(collection, item);
  const number = numberValue(item);
  if (number !== undefined && Array.isArray(collection)) return holdsNumber(collection, number);
  return operatorOf(node)(item, collection, node, ev);
}

/**
 * Most values (list elements and map members, at every depth) the comparisons of lists and maps
 * in one decision may read, over every condition it evaluates (a condition evaluated twice, see
 * cel.ts, included): a few milliseconds of comparing. Per decision, not per condition: 50 rules
 * whose conditions each compared up to the bound held the event loop 50 times as long.
 */
const maxComparedValues = 100_000;

/** What the comparisons of the decision being made may still read. */
let comparable = maxComparedValues;

/**
 * Most errors the conditions of one decision may go on past (cel.ts evaluating one again
 * included): 10-180 ms of making them, the most for conditions of 4,096 characters failing at
 * their end. Per decision, as `maxComparedValues` is.
 */
const maxAbsorbedErrors = 5_000;

/** The errors the decision being made may still go on past. */
let absorbable = maxAbsorbedErrors;

/** What an evaluation that would go on past one error more is, in its place: made once, as it says the same each time. */
const errorsSpent = new Error(`an error beyond the ${maxAbsorbedErrors} one decision may evaluate on past`);

/**
 * Starts a decision: the comparisons of lists and maps of the conditions evaluated until the
 * next call share `maxComparedValues`, and the errors they go on past `maxAbsorbedErrors`.
 */
export function startDecision(): void {
  comparable = maxComparedValues;
  absorbable = maxAbsorbedErrors;
}

/** The library's evaluation of a part that an error does not end (the left of `||` and `&&`, a comprehension's step): its value, or the error. */
type TryEvaluation = (this: unknown, ast: unknown, ctx: unknown) => unknown;

/**
 * Bounds, for every Environment, the errors one decision goes on past: the library's `tryEval`,
 * through which `||`, `&&`, `all` and `exists` evaluate what an error does not end, counts
 * the errors it returns, and once the decision's are spent returns `errorsSpent` unevaluated.
 * A condition that has met it is an error, unless what it evaluated decides it whatever the
 * part left out would have been (`true` on the right of `||`).
 */
export function boundAbsorbedErrors(): void {
  const prototype = libraryEvaluator(['tryEval'], 'src/policy/cel-strict.ts') as { readonly tryEval: TryEvaluation };
  const tryEval = prototype.tryEval;
  Object.defineProperty(prototype, 'tryEval', {
    value: function boundedTryEval(this: unknown, ast: unknown, ctx: unknown): unknown {
      if (absorbable <= 0) return errorsSpent;
      const value = tryEval.call(this, ast, ctx);
      if (value instanceof Error) absorbable -= 1;
      return value;
    },
    writable: true,
    configurable: true,
  });
}

/** The values `value` holds at every depth, if it is a list or map (0 otherwise), counted no further than past `most`. */
function valuesIn(value: unknown, most: number): number {
  if (!isListOrMap(value)) return 0;
  const members: Iterable<unknown> = value instanceof Map || value instanceof Set || Array.isArray(value) ? value.values() : Object.values(value as Record<string, unknown>);
  let count = 0;
  for (const member of members) {
    count += 1 + valuesIn(member, most - count);
    if (count > most) break;
  }
  return count;
}

/**
 * `a == b` or `a != b`, as the library evaluates it, once two lists or maps are known to be
 * within what the decision may still compare: the comparison reads at most the smaller of them.
 */
const boundedEquality = onOperands((left, right, node, ev) => {
  if (isListOrMap(left) && isListOrMap(right)) {
    const read = Math.min(valuesIn(left, comparable), valuesIn(right, comparable));
    if (read > comparable) {
      // Spent: `all` and `exists` go on after an error, and each later comparison of the
      // decision, in this condition or another, fails at once.
      comparable = 0;
      throw new Error(`comparing lists or maps beyond the ${maxComparedValues} values one decision may compare`);
    }
    comparable -= read;
    const equal = operatorOf(node)(left, right, node, ev) === (node.op === '==');
    // Equal as the library compares them, unless two maps' keys differ after all (cel-map-keys.ts).
    return (equal && !keysApart(left, right)) === (node.op === '==');
  }
  return operatorOf(node)(left, right, node, ev);
});

/** Sets the stricter evaluations on the nodes of `ast`, a condition parsed and not yet evaluated. */
export function evaluateStrictly(ast: unknown): void {
  forEachNode(ast, (node) => {
    if (node.op === 'in') setEvaluation(node, scalarMembership);
    if (node.op === '==' || node.op === '!=') setEvaluation(node, boundedEquality);
    if (node.op === 'call' && Array.isArray(node.args) && node.args[0] === 'has') {
      const parsed = node as MacroNode;
      const macro = parsed.meta?.macro;
      if (!isHasMacro(macro) || typeof parsed.setMeta !== 'function') throw new Error('cannot bind has(): the CEL library has changed');
      parsed.setMeta('macro', { ...macro, evaluate: presence });
    }
  });
}
