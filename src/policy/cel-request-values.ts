import { isAstNode, type Comprehension } from './cel-ast.js';

/**
 * The variables holding the request's values, which are JSON: a string, a number (always a
 * double, never an int or uint), a bool, null, a list or a map; never a timestamp or a duration.
 */
export const requestVariables: ReadonlySet<string> = new Set(['subject', 'resource', 'action', 'context']);

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
export function namesWithin(comprehension: Comprehension, names: ReadonlySet<string>): ReadonlySet<string> {
  const inner = new Set(names);
  if (isRequestValue(comprehension.range, names)) inner.add(comprehension.variable);
  else inner.delete(comprehension.variable);
  return inner;
}
