import { UnsignedInt } from '@marcbachmann/cel-js/evaluator';
import { isAstNode, textOf, writtenOf, type AstNode } from './cel-ast.js';
import { firstOverRequestValues, isRequestValue } from './cel-request-values.js';

/** An int or uint literal in arithmetic with a value of the request: `resource.properties.amount + 1`. */
export interface RequestIntArithmetic {
  /** The arithmetic, as the condition writes it. */
  readonly written: string;
  /** The literal, as the condition writes it: `1`, `-1`, `2u`. */
  readonly literal: string;
  readonly type: 'int' | 'uint';
  /** What to write instead: the literal as a double (`1.0`), or for `%`, which has no double overload, the value converted (`int(context.n) % 2`). */
  readonly instead: string;
}

const arithmetic = new Set(['+', '-', '*', '/', '%']);

/** The value and type of `node` when it is an int or uint literal, or a negated int literal (`-1`). */
function intLiteral(node: unknown): { readonly value: bigint; readonly type: 'int' | 'uint' } | undefined {
  if (!isAstNode(node)) return undefined;
  if (node.op === '-_') {
    const negated = intLiteral(node.args);
    return negated?.type === 'int' ? { value: -negated.value, type: 'int' } : undefined;
  }
  if (node.op !== 'value') return undefined;
  if (typeof node.args === 'bigint') return { value: node.args, type: 'int' };
  return node.args instanceof UnsignedInt ? { value: node.args.valueOf(), type: 'uint' } : undefined;
}

function found(node: AstNode, literalNode: AstNode, requestNode: AstNode, source: string): RequestIntArithmetic | undefined {
  const literal = intLiteral(literalNode);
  const written = writtenOf(node, source);
  const literalText = textOf(literalNode, source);
  const requestText = writtenOf(requestNode, source);
  if (literal === undefined || written === undefined || literalText === undefined || requestText === undefined) return undefined;
  if (node.op !== '%') return { written, literal: literalText, type: literal.type, instead: `${literal.value}.0` };
  const converted = `${literal.type}(${requestText})`;
  const [left] = node.args as [unknown, unknown];
  const instead = left === requestNode ? `${converted} % ${literalText}` : `${literalText} % ${converted}`;
  return { written, literal: literalText, type: literal.type, instead };
}

/**
 * The first arithmetic in `node`, a condition written as `source`, of an int or uint literal with
 * a value of the request (`resource.properties.amount + 1`, `1 - context.x`, `context.n / 2u`,
 * within a comprehension over one `items.all(i, i * 2 < 10.0)`). The check types a request's
 * values `dyn` and lets it pass; but CEL has no arithmetic mixing an int with a double, and a
 * number from JSON is always a double (nor any with a string, bool, null, list or map): it is an
 * error on every request, so a deny on it applied to every request and a permit never did.
 * Comparisons mix numbers freely and pass, as do ints made by a function (`size(x) + 1`).
 */
export function requestIntArithmetic(node: unknown, source: string): RequestIntArithmetic | undefined {
  return firstOverRequestValues(node, (at, names) => {
    if (!arithmetic.has(at.op) || (at.args as unknown[]).length !== 2) return undefined;
    const [left, right] = at.args as [unknown, unknown];
    if (!isAstNode(left) || !isAstNode(right)) return undefined;
    if (intLiteral(left) !== undefined && isRequestValue(right, names)) return found(at, left, right, source);
    if (intLiteral(right) !== undefined && isRequestValue(left, names)) return found(at, right, left, source);
    return undefined;
  });
}
