import { checkedTypeName, intTypeNames, isAstNode, writtenOf, type AstNode } from './cel-ast.js';
import { firstOverRequestValues, isRequestValue } from './cel-request-values.js';

/** The type of a value of the request compared with `int` or `uint`: `type(resource.properties.qty) == int`. */
export interface RequestIntType {
  /** The comparison, as the condition writes it. */
  readonly written: string;
  /** The value, as the condition writes it. */
  readonly value: string;
  readonly type: 'int' | 'uint';
  readonly op: '==' | '!=';
}

/** `int` or `uint` when `node` names that type: the check types such a name `type`, not a comprehension variable named so. */
function intTypeName(node: unknown): RequestIntType['type'] | undefined {
  if (!isAstNode(node) || node.op !== 'id' || typeof node.args !== 'string' || !intTypeNames.has(node.args)) return undefined;
  return checkedTypeName(node) === 'type' ? (node.args as RequestIntType['type']) : undefined;
}

/** The value whose type `node` reads when it is `type(x)` of a value of the request `x`. */
function typeOfRequestValue(node: unknown, names: ReadonlySet<string>): AstNode | undefined {
  if (!isAstNode(node) || node.op !== 'call' || !Array.isArray(node.args)) return undefined;
  const [name, args] = node.args as [unknown, unknown];
  if (name !== 'type' || !Array.isArray(args) || args.length !== 1) return undefined;
  const [value] = args as [unknown];
  return isAstNode(value) && isRequestValue(value, names) ? value : undefined;
}

/**
 * The first comparison in `node`, a condition written as `source` that the library has
 * type-checked, of the type of a value of the request with `int` or `uint` by `==` or `!=`
 * (`type(resource.properties.qty) == int`, `uint != type(context.n)`, within a comprehension over
 * one too). A request's values are JSON, whose numbers are doubles: such a comparison is false
 * on every request (true for `!=`), so a permit on it never applied and a deny on `!=` applied
 * to all. The check cannot tell at load, as it types them `dyn`.
 */
export function requestIntType(node: unknown, source: string): RequestIntType | undefined {
  return firstOverRequestValues(node, (at, names) => {
    if ((at.op !== '==' && at.op !== '!=') || (at.args as unknown[]).length !== 2) return undefined;
    const [left, right] = at.args as [unknown, unknown];
    const type = intTypeName(left) ?? intTypeName(right);
    const value = typeOfRequestValue(left, names) ?? typeOfRequestValue(right, names);
    if (type === undefined || value === undefined) return undefined;
    const written = writtenOf(at, source);
    const valueText = writtenOf(value, source);
    return written === undefined || valueText === undefined ? undefined : { written, value: valueText, type, op: at.op };
  });
}
