import { comprehensionOf, isAstNode, type AstNode, type Comprehension } from './cel-ast.js';

/**
 * The variables holding the request's values, which are JSON: a string, a number (always a
 * double, never an int or uint), a bool, null, a list or a map; never a timestamp or a duration.
 */
const requestVariables: ReadonlySet<string> = new Set(['subject', 'resource', 'action', 'context']);

/** Whether `node` is a string literal other than `text` (any other literal key may equal a number, and `text` undefined is not one). */
function otherString(node: unknown, text: unknown): boolean {
  return typeof text === 'string' && isAstNode(node) && node.op === 'value' && typeof node.args === 'string' && node.args !== text;
}

/** The element of the list literal `list` that the int literal `index` reads: none past its end; every one for another index. */
function elementsAt(list: AstNode, index: unknown): readonly unknown[] {
  const elements = list.args as readonly unknown[];
  if (!isAstNode(index) || index.op !== 'value' || typeof index.args !== 'bigint') return elements;
  const at = index.args;
  return at >= 0n && at < BigInt(elements.length) ? [elements[Number(at)]] : [];
}

/**
 * The operands whose value `node` passes on as it is, any one of them: the two of a choice (the
 * one a literal `true` or `false` picks), the element or value a list or map literal gives for
 * the index or key read from it (the one a literal names, or every one), the operand of `dyn()`;
 * undefined for any other node.
 */
export function passedOn(node: AstNode): readonly unknown[] | undefined {
  if (!Array.isArray(node.args)) return undefined;
  const args = node.args as readonly unknown[];
  if (node.op === '?:') {
    const [condition, ifTrue, ifFalse] = args;
    if (isAstNode(condition) && condition.op === 'value' && typeof condition.args === 'boolean') return [condition.args ? ifTrue : ifFalse];
    return [ifTrue, ifFalse];
  }
  if (node.op === 'call' && args[0] === 'dyn' && Array.isArray(args[1]) && args[1].length === 1) return args[1] as readonly unknown[];
  if (node.op !== '.' && node.op !== '[]') return undefined;
  const [container, key] = args;
  if (!isAstNode(container) || !Array.isArray(container.args)) return undefined;
  if (container.op === 'list' && node.op === '[]') return elementsAt(container, key);
  if (container.op !== 'map') return undefined;
  // `.k` names the key "k"; `[k]` a literal's value.
  const text = node.op === '.' ? key : isAstNode(key) && key.op === 'value' ? key.args : undefined;
  const entries = container.args as readonly (readonly [unknown, unknown])[];
  return entries.filter(([entryKey]) => !otherString(entryKey, text)).map(([, value]) => value);
}

/**
 * Whether `node`, a comprehension `comprehension`, makes a list of the request's values:
 * `filter` over one, whose elements are its own (a list's elements, a map's keys), or `map`
 * over one whose result for each is one (`context.l.map(x, x.n)`, `map(x, p, t)` by `t`).
 */
function listOfRequestValues(node: AstNode, comprehension: Comprehension, names: ReadonlySet<string>): boolean {
  const [macro] = node.args as readonly unknown[];
  if ((macro !== 'filter' && macro !== 'map') || !isRequestValue(comprehension.range, names)) return false;
  return macro === 'filter' || isRequestValue(comprehension.steps.at(-1), namesWithin(comprehension, names));
}

/**
 * Whether `node` is a value of the request, JSON: a name in `names` holding one (`context`, or
 * the variable of a comprehension over one), a field, key or element read from one
 * (`context.since`), a list or map literal of such values (with string keys), a list `filter` or
 * `map` makes of such values (see `listOfRequestValues`: `context.l.filter(x, x > 0.0)`), or one
 * passed on as it is (see `passedOn`: `[context.a][0]`, `{"k": context.a}.k`, `true ? context.a :
 * 0`, `dyn(context.a)`).
 */
export function isRequestValue(node: unknown, names: ReadonlySet<string>): boolean {
  if (!isAstNode(node)) return false;
  if (node.op === 'id') return typeof node.args === 'string' && names.has(node.args);
  if (!Array.isArray(node.args)) return false;
  const comprehension = comprehensionOf(node);
  if (comprehension !== undefined) return listOfRequestValues(node, comprehension, names);
  if (node.op === 'list') return node.args.every((element) => isRequestValue(element, names));
  if (node.op === 'map') {
    const entries = node.args as readonly (readonly [unknown, unknown])[];
    return entries.every(([key, value]) => (isStringLiteral(key) || isRequestValue(key, names)) && isRequestValue(value, names));
  }
  const from = passedOn(node);
  if (from !== undefined) return from.length > 0 && from.every((operand) => isRequestValue(operand, names));
  return (node.op === '.' || node.op === '[]') && isRequestValue(node.args[0], names);
}

function isStringLiteral(node: unknown): boolean {
  return isAstNode(node) && node.op === 'value' && typeof node.args === 'string';
}

/**
 * The names holding the request's values in the steps of `comprehension`, given those holding
 * them where it stands: its variable holds one when it ranges over one, and hides a name otherwise.
 */
function namesWithin(comprehension: Comprehension, names: ReadonlySet<string>): ReadonlySet<string> {
  const inner = new Set(names);
  if (isRequestValue(comprehension.range, names)) inner.add(comprehension.variable);
  else inner.delete(comprehension.variable);
  return inner;
}

/**
 * The first answer of `check` over `node` (a node, or an array holding nodes) and every node in
 * it, each before those under it, given the names holding the request's values at that node:
 * `names` at the top, and in a comprehension's steps its variable too when it ranges over one
 * (`namesWithin`). The walk the load-time checks on request values share.
 */
export function firstOverRequestValues<T>(
  node: unknown,
  check: (node: AstNode, names: ReadonlySet<string>) => T | undefined,
  names: ReadonlySet<string> = requestVariables,
): T | undefined {
  if (Array.isArray(node)) {
    for (const item of node) {
      const answer = firstOverRequestValues(item, check, names);
      if (answer !== undefined) return answer;
    }
    return undefined;
  }
  if (!isAstNode(node)) return undefined;
  // `!` and unary `-` hold their operand alone, not in an array.
  if (!Array.isArray(node.args)) return firstOverRequestValues(node.args, check, names);
  const comprehension = comprehensionOf(node);
  if (comprehension !== undefined) {
    return firstOverRequestValues(comprehension.range, check, names) ?? firstOverRequestValues(comprehension.steps, check, namesWithin(comprehension, names));
  }
  return check(node, names) ?? firstOverRequestValues(node.args, check, names);
}
