import { forEachNode, operatorOf, setEvaluation, type AstNode, type BoundNode, type Evaluator } from './cel-ast.js';

/**
 * Where a condition's arithmetic is held to the ranges CEL defines (langdef.md, "Overflow": an
 * error when a result leaves the range of its type), beyond what the library (cel-js 8) checks.
 * Its `+`, `-` and `*` on ints are errors past int64, but three operations are not:
 * `-9223372036854775808 / -1` is 2^63, `-9223372036854775808 % -1` is 0 and `-x` of that
 * int is 2^63, where cel-go fails with "integer overflow". So `int(a) / int(b) < -1000`, a
 * deny rule, did not apply to a = -2^63, b = -1. The library has no way to replace an
 * operator, so the evaluation of those nodes is set on the parsed condition (cel-ast.ts).
 * The parser also reads an int literal beyond int64 (`9223372036854775808`), which CEL's does
 * not: such a literal is refused at load, but as the operand of `-` (`-9223372036854775808`).
 */

const minInt = -(2n ** 63n);
const maxInt = 2n ** 63n - 1n;

/** `-x`: an error for the one int whose negation is not an int. */
function negation(ev: Evaluator, node: BoundNode, ctx: unknown): unknown {
  const value = ev.run(node.args, ctx);
  if (value === minInt) throw new Error(`integer overflow: -(${minInt})`);
  return operatorOf(node)(value, node, ev);
}

/** `a / b` or `a % b`: an error for the one pair of ints whose quotient is not an int. */
function division(ev: Evaluator, node: BoundNode, ctx: unknown): unknown {
  const [leftNode, rightNode] = node.args as [unknown, unknown];
  const left = ev.run(leftNode, ctx);
  const right = ev.run(rightNode, ctx);
  if (left === minInt && right === -1n) throw new Error(`integer overflow: ${minInt} ${node.op} -1`);
  return operatorOf(node)(left, right, node, ev);
}

function isIntLiteral(node: unknown): node is AstNode & { readonly args: bigint } {
  return typeof node === 'object' && node !== null && (node as AstNode).op === 'value' && typeof (node as AstNode).args === 'bigint';
}

/** The first int literal in `ast` beyond int64 (as written, `-` included), if there is one. */
export function intLiteralBeyondInt64(ast: unknown): string | undefined {
  let found: string | undefined;
  const negated = new Set<unknown>();
  forEachNode(ast, (node) => {
    if (node.op === '-_' && isIntLiteral(node.args)) negated.add(node.args);
    if (found !== undefined || !isIntLiteral(node)) return;
    const value = negated.has(node) ? -node.args : node.args;
    if (value < minInt || value > maxInt) found = String(value);
  });
  return found;
}

/** Sets the range-checked evaluations on the nodes of `ast`, a condition parsed and not yet evaluated. */
export function evaluateInRange(ast: unknown): void {
  forEachNode(ast, (node) => {
    if (node.op === '-_') setEvaluation(node, negation);
    if (node.op === '/' || node.op === '%') setEvaluation(node, division);
  });
}
