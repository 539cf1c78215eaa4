import { boundNames, checkedTypeName, forEachNode, isAstNode, writtenOf, type AstNode } from './cel-ast.js';
import { firstOverRequestValues, isRequestValue } from './cel-request-values.js';

/**
 * The type of a value of the request compared with a type it never has, as a JSON value: any but
 * `null_type`, `bool`, `double`, `string`, `list` and `map` (`type(resource.properties.qty) ==
 * int`, `type(context.at) == google.protobuf.Timestamp`, `type(context.x) == bytes`).
 */
export interface RequestType {
  /** The comparison, as the condition writes it. */
  readonly written: string;
  /** The value, as the condition writes it. */
  readonly value: string;
  /** The type it is compared with, as CEL names it: `int`, `google.protobuf.Timestamp`, `bytes`…; the first of a list `in` looks in. */
  readonly type: string;
  /** `in`: looked up in a list of such types alone (`type(context.n) in [int, uint]`), false on every request as `==` is. */
  readonly op: '==' | '!=' | 'in';
  /** For `in`, every type of the list, as CEL names them. */
  readonly types: readonly string[];
}

/** The types of a JSON value: a request's values have no other. */
const jsonTypes: ReadonlySet<string> = new Set(['null_type', 'bool', 'double', 'string', 'list', 'map']);

/** The names of CEL's types that a condition may write as they are: each holds that type. */
const typeNames: ReadonlySet<string> = new Set(['int', 'uint', 'double', 'bool', 'string', 'bytes', 'list', 'map', 'null_type', 'type']);

/** The types of the package `google.protobuf` that a condition may name. */
const protobufTypes: ReadonlySet<unknown> = new Set(['Timestamp', 'Duration']);

/** Whether `node` reads the member `name` of another. */
function isMember(node: unknown, name: string): node is AstNode & { readonly args: readonly [unknown, string] } {
  return isAstNode(node) && node.op === '.' && Array.isArray(node.args) && node.args[1] === name;
}

/** The type `node` names as written: `int`, `bytes`, `google.protobuf.Timestamp`; undefined for anything else. */
function namedType(node: unknown, bound: ReadonlySet<string>): string | undefined {
  if (!isAstNode(node)) return undefined;
  if (node.op === 'id') return typeof node.args === 'string' && typeNames.has(node.args) && !bound.has(node.args) ? node.args : undefined;
  if (node.op !== '.' || !Array.isArray(node.args)) return undefined;
  const [pkg, name] = node.args as [unknown, unknown];
  if (!isMember(pkg, 'protobuf') || !protobufTypes.has(name) || bound.has('google')) return undefined;
  const [root] = pkg.args;
  return isAstNode(root) && root.op === 'id' && root.args === 'google' ? `google.protobuf.${String(name)}` : undefined;
}

/** Whether `node` reads no variable but `now`, and no name but those of types (see `namedType`), none of them one a comprehension binds. */
function readsNowAtMost(node: unknown, bound: ReadonlySet<string>): boolean {
  const free = (name: unknown): boolean => typeof name === 'string' && !bound.has(name) && (name === 'now' || name === 'google' || typeNames.has(name));
  let reads = false;
  forEachNode(node, (at) => {
    if (at.op === 'id' && !free(at.args)) reads = true;
  });
  return !reads;
}

/** The name of the type the check gave `node`, as CEL names the type of its value (`list` for `list<int>`); undefined for `dyn`. */
function checkedType(node: unknown): string | undefined {
  const name = checkedTypeName(node);
  if (name === undefined) return undefined;
  if (name === 'null') return 'null_type';
  const kind = /^(list|map)</.exec(name)?.[1] ?? name;
  return typeNames.has(kind) || kind.startsWith('google.protobuf.') ? kind : undefined;
}

/** The argument of `node` when it is `type(x)`. */
function typeArgument(node: unknown): AstNode | undefined {
  if (!isAstNode(node) || node.op !== 'call' || !Array.isArray(node.args)) return undefined;
  const [name, args] = node.args as [unknown, unknown];
  if (name !== 'type' || !Array.isArray(args) || args.length !== 1) return undefined;
  const [value] = args as [unknown];
  return isAstNode(value) ? value : undefined;
}

/**
 * The type `node` holds, known at load: a type named as written (`bytes`, see `namedType`), or
 * `type(x)` of a value whose type the check knows, as it reads no variable but `now` and such
 * names (`type(1)`, `type(now)`, `type(now.getHours())`, `type(int)`), or of a type
 * (`type(type(x))`). Undefined for anything else, a name a comprehension binds among them.
 */
function heldType(node: unknown, bound: ReadonlySet<string>): string | undefined {
  const named = namedType(node, bound);
  if (named !== undefined) return named;
  const value = typeArgument(node);
  if (value === undefined) return undefined;
  if (namedType(value, bound) !== undefined || typeArgument(value) !== undefined) return 'type';
  return readsNowAtMost(value, bound) ? checkedType(value) : undefined;
}

/** The value whose type `node` reads when it is `type(x)` of a value of the request `x`. */
function typeOfRequestValue(node: unknown, names: ReadonlySet<string>): AstNode | undefined {
  const value = typeArgument(node);
  return value !== undefined && isRequestValue(value, names) ? value : undefined;
}

/**
 * The first comparison in `node`, a condition written as `source` that the library has
 * type-checked, of the type of a value of the request with a type known at load that no JSON
 * value has (see `heldType`), by `==` or `!=` (`type(resource.properties.qty) == int`,
 * `uint != type(context.n)`, `type(context.at) == type(now)`, `type(context.x) == bytes`, within
 * a comprehension over one too). A request's values are JSON, of type `null_type`, `bool`,
 * `double` (every number), `string`, `list` or `map`, never a timestamp or a duration (one is sent
 * as text): such a comparison is false on every request (true for `!=`), so a permit on it never
 * applied and a deny on `!=` applied to all; so is `in` a list of such types alone
 * (`type(context.n) in [int, uint]`, see `requestTypeIn`). The check cannot tell at load, as it
 * types them `dyn`.
 */
export function requestType(node: unknown, source: string): RequestType | undefined {
  const bound = boundNames(node);
  return firstOverRequestValues(node, (at, names) => {
    if (!Array.isArray(at.args) || at.args.length !== 2) return undefined;
    const [left, right] = at.args as [unknown, unknown];
    if (at.op === 'in') return requestTypeIn(at, left, right, names, bound, source);
    if (at.op !== '==' && at.op !== '!=') return undefined;
    const value = typeOfRequestValue(left, names) ?? typeOfRequestValue(right, names);
    if (value === undefined) return undefined;
    const type = heldType(value === typeArgument(left) ? right : left, bound);
    if (type === undefined || jsonTypes.has(type)) return undefined;
    return found(at, value, [type], at.op, source);
  });
}

/**
 * `type(x) in [int, uint]`, `x` a value of the request and the list written out with types known
 * at load, none of which a JSON value has: false on every request, as each `==` of it would be.
 * A list holding one type a JSON value may have (`[int, double]`) is left alone.
 */
function requestTypeIn(at: AstNode, left: unknown, right: unknown, names: ReadonlySet<string>, bound: ReadonlySet<string>, source: string): RequestType | undefined {
  const value = typeOfRequestValue(left, names);
  if (value === undefined || !isAstNode(right) || right.op !== 'list' || !Array.isArray(right.args) || right.args.length === 0) return undefined;
  const types: string[] = [];
  for (const element of right.args as unknown[]) {
    const type = heldType(element, bound);
    if (type === undefined || jsonTypes.has(type)) return undefined;
    if (!types.includes(type)) types.push(type);
  }
  return found(at, value, types, 'in', source);
}

/** The finding at `at`, a comparison of the type of `value` with `types`, as the condition writes them; undefined when the text cannot be placed. */
function found(at: AstNode, value: AstNode, types: readonly string[], op: RequestType['op'], source: string): RequestType | undefined {
  const written = writtenOf(at, source);
  const valueText = writtenOf(value, source);
  return written === undefined || valueText === undefined ? undefined : { written, value: valueText, type: types[0] as string, op, types };
}
