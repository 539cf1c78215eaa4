import { comprehensionOf, isAstNode, type AstNode, type Comprehension } from './cel-ast.js';

/**
 * The variables holding the request's values, which are JSON: a string, a number (always a
 * double, never an int or uint), a bool, null, a list or a map; never a timestamp or a duration.
 */
const requestVariables: ReadonlySet<string> = new Set(['subject', 'resource', 'action', 'context']);

/**
 * Whether `node` is a value of the request: a name in `names` holding one (`context`, or the
 * variable of a comprehension over one), or a field, key or element read from it (`context.since`).
 */
export function isRequestValue(node: unknown, names: ReadonlySet<string>): boolean {
  let current = node;
  while (isAstNode(current) && (current.op === '.' || current.op === '[]') && Array.isArray(current.args)) current = current.args[0];
  return isAstNode(current) && current.op === 'id' && typeof current.args === 'string' && names.has(current.args);
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
