/**
 * Where a condition is evaluated more strictly than cel-js 8 evaluates it. The library has no
 * way to replace an operator, so the evaluation of the nodes concerned is set on the parsed
 * condition (`setMeta`), before it is first evaluated (which binds each node to it):
 * - `e in list` with a list or map on its left is an error. The library compares such an item
 *   with each element in full, so `items.all(i, i in approved)` over two request lists of
 *   lists took 7.5 s on a 1 MB body, where cel-cost.ts charges one step per element; a
 *   string, number, bool, null or time on the left is compared with each element in one step.
 */

/** What a node's evaluation is handed: the library's evaluator, of which only `run` is used. */
interface Evaluator {
  run(node: unknown, ctx: unknown): unknown;
}

/** An operator's function, as the library's type check binds it to a binary node (`handle`). */
type BinaryHandler = (left: unknown, right: unknown, node: unknown, ev: Evaluator) => unknown;

interface ParsedNode {
  readonly op: string;
  readonly args: unknown;
  setMeta(key: 'evaluate', value: (ev: Evaluator, node: BinaryNode, ctx: unknown) => unknown): unknown;
}

interface BinaryNode {
  readonly args: readonly [unknown, unknown];
  readonly handle?: BinaryHandler;
}

function isParsedNode(value: unknown): value is ParsedNode {
  return typeof value === 'object' && value !== null && 'op' in value && 'args' in value;
}

/** A list or map as the library types values: an array or Set, a Map, or a plain object. */
function isListOrMap(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value) || value instanceof Map || value instanceof Set) return true;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** `item in collection`, as the library evaluates it, once the item is known not to be a list or map. */
function scalarMembership(ev: Evaluator, node: BinaryNode, ctx: unknown): unknown {
  const [itemNode, collectionNode] = node.args;
  const item = ev.run(itemNode, ctx);
  if (isListOrMap(item)) {
    throw new Error('`in` needs a string, number, bool, null or time on its left, not a list or map');
  }
  const collection = ev.run(collectionNode, ctx);
  if (typeof node.handle !== 'function') throw new Error('`in` is not bound to its operator: the CEL library has changed');
  return node.handle(item, collection, node, ev);
}

/** Sets the stricter evaluations on the nodes of `ast`, a condition parsed and not yet evaluated. */
export function evaluateStrictly(ast: unknown): void {
  if (Array.isArray(ast)) {
    for (const item of ast) evaluateStrictly(item);
    return;
  }
  if (!isParsedNode(ast)) return;
  if (ast.op === 'in') {
    if (typeof ast.setMeta !== 'function') throw new Error('cannot bind `in`: the CEL library has changed');
    ast.setMeta('evaluate', scalarMembership);
  }
  evaluateStrictly(ast.args);
}
