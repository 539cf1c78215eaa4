import { checkedTypeName, comprehensionOf, forEachNode, intTypeNames, isAstNode, writtenOf, type AstNode } from './cel-ast.js';
import { firstOverRequestValues, isRequestValue } from './cel-request-values.js';

/**
 * The type of a value of the request compared with a type it never has, as a JSON value: `int` or
 * `uint` (`type(resource.properties.qty) == int`), `google.protobuf.Timestamp` or
 * `google.protobuf.Duration` (`type(context.at) == google.protobuf.Timestamp`).
 */
export interface RequestType {
  /** The comparison, as the condition writes it. */
  readonly written: string;
  /** The value, as the condition writes it. */
  readonly value: string;
  readonly type: 'int' | 'uint' | 'timestamp' | 'duration';
  readonly op: '==' | '!=';
}

/** `int` or `uint` when `node` names that type: the check types such a name `type`, not a comprehension variable named so. */
function intTypeName(node: unknown): RequestType['type'] | undefined {
  if (!isAstNode(node) || node.op !== 'id' || typeof node.args !== 'string' || !intTypeNames.has(node.args)) return undefined;
  return checkedTypeName(node) === 'type' ? (node.args as RequestType['type']) : undefined;
}

const timeTypeNames = new Map<unknown, RequestType['type']>([['Timestamp', 'timestamp'], ['Duration', 'duration']]);

/** Whether `node` reads the member `name` of another. */
function isMember(node: unknown, name: string): node is AstNode & { readonly args: readonly [unknown, string] } {
  return isAstNode(node) && node.op === '.' && Array.isArray(node.args) && node.args[1] === name;
}

/**
 * `timestamp` or `duration` when `node` names that type, `google.protobuf.Timestamp` or
 * `google.protobuf.Duration`, and `google` is the library's name for their package: `bound`
 * tells whether a comprehension in the condition binds a variable named `google` instead.
 */
function timeTypeName(node: unknown, bound: boolean): RequestType['type'] | undefined {
  if (bound || !isAstNode(node) || node.op !== '.' || !Array.isArray(node.args)) return undefined;
  const [pkg, name] = node.args as [unknown, unknown];
  if (!isMember(pkg, 'protobuf')) return undefined;
  const [root] = pkg.args;
  return isAstNode(root) && root.op === 'id' && root.args === 'google' ? timeTypeNames.get(name) : undefined;
}

/** Whether a comprehension in `node` binds a variable named `name`. */
function bindsVariable(node: unknown, name: string): boolean {
  let found = false;
  forEachNode(node, (at) => {
    if (comprehensionOf(at)?.variable === name) found = true;
  });
  return found;
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
 * type-checked, of the type of a value of the request with `int`, `uint`,
 * `google.protobuf.Timestamp` or `google.protobuf.Duration` by `==` or `!=`
 * (`type(resource.properties.qty) == int`, `uint != type(context.n)`, within a comprehension over
 * one too). A request's values are JSON, whose numbers are doubles and which has no timestamps or
 * durations (one is sent as text): such a comparison is false on every request (true for `!=`),
 * so a permit on it never applied and a deny on `!=` applied to all. The check cannot tell at
 * load, as it types them `dyn`.
 */
export function requestType(node: unknown, source: string): RequestType | undefined {
  const googleBound = bindsVariable(node, 'google');
  const typeName = (at: unknown): RequestType['type'] | undefined => intTypeName(at) ?? timeTypeName(at, googleBound);
  return firstOverRequestValues(node, (at, names) => {
    if ((at.op !== '==' && at.op !== '!=') || (at.args as unknown[]).length !== 2) return undefined;
    const [left, right] = at.args as [unknown, unknown];
    const type = typeName(left) ?? typeName(right);
    const value = typeOfRequestValue(left, names) ?? typeOfRequestValue(right, names);
    if (type === undefined || value === undefined) return undefined;
    const written = writtenOf(at, source);
    const valueText = writtenOf(value, source);
    return written === undefined || valueText === undefined ? undefined : { written, value: valueText, type, op: at.op };
  });
}
