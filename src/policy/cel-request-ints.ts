import { UnsignedInt } from '@marcbachmann/cel-js/evaluator';
import { checkedTypeName, intTypeNames, isAstNode, writtenOf, type AstNode } from './cel-ast.js';
import { firstOverRequestValues, isRequestValue, passedOn } from './cel-request-values.js';

/**
 * An int or uint, a literal or one a function makes, in arithmetic with a value of the request, or
 * one made from it: `resource.properties.amount + 1`, `size(context.items) + context.extra`.
 */
export interface RequestIntArithmetic {
  /** The arithmetic, as the condition writes it. */
  readonly written: string;
  /** The int or uint, as the condition writes it: `1`, `-1`, `2u`, `2 * 3`, `size(context.items)`. */
  readonly literal: string;
  readonly type: 'int' | 'uint';
  /**
   * What to write instead: a literal as a double (`1.0`), an int a function makes converted
   * (`double(size(context.items))`), or for `%`, which has no double overload, the value
   * converted (`int(context.n) % 2`).
   */
  readonly instead: string;
}

const arithmetic = new Set(['+', '-', '*', '/', '%']);

type IntLiteral = { readonly value: bigint; readonly type: 'int' | 'uint' };

/** The range of each type: beyond it, arithmetic is an error the load reports as such. */
const ranges = { int: [-(2n ** 63n), 2n ** 63n - 1n], uint: [0n, 2n ** 64n - 1n] } as const;

/** `left op right` as CEL computes two ints or two uints; undefined for a division by zero. */
function computed(op: string, left: bigint, right: bigint): bigint | undefined {
  if (op === '+') return left + right;
  if (op === '-') return left - right;
  if (op === '*') return left * right;
  return right === 0n ? undefined : op === '/' ? left / right : left % right;
}

/** `value` as `type`, or undefined beyond its range. */
function inRange(value: bigint, type: IntLiteral['type']): IntLiteral | undefined {
  const [least, most] = ranges[type];
  return value < least || value > most ? undefined : { value, type };
}

/**
 * The value and type of `node` when it is an int or uint literal, a negated int literal (`-1`),
 * or arithmetic on such alone (`2 * 3`, `-(1 + 1)`), which CEL makes an int or a uint of too;
 * undefined for anything else, and for arithmetic that fails (a mix of int and uint, a division
 * by zero, a result beyond the type's range), which the load refuses as such.
 */
function intLiteral(node: unknown): IntLiteral | undefined {
  if (!isAstNode(node)) return undefined;
  if (node.op === '-_') {
    const negated = intLiteral(node.args);
    return negated?.type === 'int' ? inRange(-negated.value, 'int') : undefined;
  }
  if (arithmetic.has(node.op) && Array.isArray(node.args) && node.args.length === 2) {
    const [left, right] = (node.args as unknown[]).map(intLiteral);
    if (left === undefined || right === undefined || left.type !== right.type) return undefined;
    const value = computed(node.op, left.value, right.value);
    return value === undefined ? undefined : inRange(value, left.type);
  }
  if (node.op !== 'value') return undefined;
  if (typeof node.args === 'bigint') return { value: node.args, type: 'int' };
  return node.args instanceof UnsignedInt ? { value: node.args.valueOf(), type: 'uint' } : undefined;
}

/**
 * The type of `node` when it is an int or a uint made by a function: a call the check types so
 * (`size(x)`, `int(x)`, `now.getHours()`, `s.indexOf(t)`), its negation, or arithmetic of one
 * with ints or uints alone (`size(x) * 2`). Undefined for anything else, arithmetic of the
 * check's among them: it types `context.a + size(x)` an int, which is never one.
 */
function madeInt(node: unknown): IntLiteral['type'] | undefined {
  if (!isAstNode(node)) return undefined;
  if (node.op === 'call' || node.op === 'rcall') {
    const type = checkedTypeName(node);
    return type !== undefined && intTypeNames.has(type) ? (type as IntLiteral['type']) : undefined;
  }
  if (node.op === '-_') return madeInt(node.args) === 'int' ? 'int' : undefined;
  if (!arithmetic.has(node.op) || !Array.isArray(node.args) || node.args.length !== 2) return undefined;
  const [left, right] = node.args as [unknown, unknown];
  const type = madeInt(left) ?? madeInt(right);
  return type !== undefined && intValued(left) === type && intValued(right) === type ? type : undefined;
}

/** The type of `node` when it is always an int or a uint: a literal, arithmetic on literals alone that succeeds, or one a function makes. */
function intValued(node: unknown): IntLiteral['type'] | undefined {
  return intLiteral(node)?.type ?? madeInt(node);
}

/**
 * Whether `node` is a value of the request or arithmetic made from one: `+`, `-`, `*`, `/` or `%`
 * with such an operand (`context.a + context.b`, `context.a * 2.0`), its negation (`-context.x`),
 * or one passed on as it is (see `passedOn`): a choice between two such (`context.ok ? context.a :
 * context.b`), an element of a list literal of such (`[context.a + context.b][0]`). CEL's
 * arithmetic makes an int or a uint of two ints or two uints alone, so none of these is ever one:
 * each is a double, a string, a list, or an error. Arithmetic with an int or uint (see `intValued`) is refused itself,
 * so it is left out: `context.a + 1 + 1` is refused where it first fails, at `context.a + 1`.
 */
function fromRequest(node: unknown, names: ReadonlySet<string>): boolean {
  if (isRequestValue(node, names)) return true;
  if (!isAstNode(node)) return false;
  if (node.op === '-_') return fromRequest(node.args, names);
  if (!Array.isArray(node.args)) return false;
  const operands = node.args as unknown[];
  const from = passedOn(node);
  if (from !== undefined) return from.length > 0 && from.every((operand) => fromRequest(operand, names));
  if (!arithmetic.has(node.op) || operands.some((operand) => intValued(operand) !== undefined)) return false;
  return operands.some((operand) => fromRequest(operand, names));
}

function found(node: AstNode, intNode: AstNode, valueNode: AstNode, source: string): RequestIntArithmetic | undefined {
  const type = intValued(intNode);
  const literal = intLiteral(intNode);
  const written = writtenOf(node, source);
  const intText = writtenOf(intNode, source);
  const valueText = writtenOf(valueNode, source);
  if (type === undefined || written === undefined || intText === undefined || valueText === undefined) return undefined;
  if (node.op !== '%') return { written, literal: intText, type, instead: literal === undefined ? `double(${intText})` : `${literal.value}.0` };
  const converted = `${type}(${valueText})`;
  const operand = arithmetic.has(intNode.op) ? `(${intText})` : intText;
  const [left] = node.args as [unknown, unknown];
  const instead = left === valueNode ? `${converted} % ${operand}` : `${operand} % ${converted}`;
  return { written, literal: intText, type, instead };
}

/**
 * The first arithmetic in `node`, a condition written as `source` that the library has
 * type-checked, of an int or uint (see `intValued`: a literal, `2 * 3`, or one a function makes,
 * `size(context.items)`, `now.getHours()`) with a value of the request
 * (`resource.properties.amount + 1`, `1 - context.x`, `context.n / 2u`, `size(x) + context.extra`,
 * within a comprehension over one `items.all(i, i * 2 < 10.0)`), or with arithmetic made from one
 * (`context.a + context.b + 1`, `-context.x + 1`: see `fromRequest`). The check types a request's
 * values `dyn` and lets it pass; but CEL has no arithmetic mixing an int with a double, and a
 * number from JSON is always a double (nor any with a string, bool, null, list or map): it is an
 * error on every request, so a deny on it applied to every request and a permit never did.
 * Comparisons mix numbers freely and pass, as do ints with ints (`size(x) + 1`).
 */
export function requestIntArithmetic(node: unknown, source: string): RequestIntArithmetic | undefined {
  return firstOverRequestValues(node, (at, names) => {
    if (!arithmetic.has(at.op) || (at.args as unknown[]).length !== 2) return undefined;
    const [left, right] = at.args as [unknown, unknown];
    if (!isAstNode(left) || !isAstNode(right)) return undefined;
    if (intValued(left) !== undefined && fromRequest(right, names)) return found(at, left, right, source);
    if (intValued(right) !== undefined && fromRequest(left, names)) return found(at, right, left, source);
    return undefined;
  });
}
