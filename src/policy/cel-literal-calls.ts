import { forEachNode, isAstNode, textOf, type AstNode } from './cel-ast.js';
import { timeFieldNames } from './cel-time-fields.js';

/** A call a condition makes on a literal, whose outcome no request can change. */
export interface LiteralCall {
  /** The call as the condition writes it: `duration("30d")`, `timestamp(context.t).getHours("CET ")`. */
  readonly written: string;
  /** A condition that makes the call on the same literal: for a getter, on `now`. */
  readonly probe: string;
}

/** The conversions, which fail for some values: `timestamp("2025-02-30T00:00:00Z")`, `uint(-1)`. */
const conversions = new Set(['timestamp', 'duration', 'int', 'uint', 'double', 'string', 'bool']);

/** Whether `node` is a literal: a value, or a negated one (`-1`). */
function isLiteral(node: unknown): node is AstNode {
  if (!isAstNode(node)) return false;
  return node.op === 'value' || (node.op === '-_' && isAstNode(node.args) && node.args.op === 'value');
}

/** The one argument of a call, when it has one and it is a literal. */
function literalArgument(args: unknown): AstNode | undefined {
  return Array.isArray(args) && args.length === 1 && isLiteral(args[0]) ? args[0] : undefined;
}

/**
 * Each conversion of a literal in `ast`, a parsed condition written as `source`
 * (`timestamp("2025-01-01")`), and each timestamp getter given a literal time zone
 * (`now.getHours("Europe/Pariss")`). What such a call does with its literal is the same on
 * every request: evaluated once at load, a call that fails shows a condition that fails
 * wherever it reaches the call, a deny rule that applies with a condition_error and a permit
 * that never applies.
 */
export function literalCalls(ast: unknown, source: string): LiteralCall[] {
  const calls: LiteralCall[] = [];
  forEachNode(ast, (node) => {
    if (!Array.isArray(node.args)) return;
    const [name, first, second] = node.args as unknown[];
    if (typeof name !== 'string') return;
    const written = textOf(node, source);
    if (written === undefined) return;
    if (node.op === 'call' && conversions.has(name) && literalArgument(first) !== undefined) {
      calls.push({ written, probe: written });
    }
    const zone = node.op === 'rcall' && timeFieldNames.has(name) ? literalArgument(second) : undefined;
    const zoneText = zone === undefined ? undefined : textOf(zone, source);
    if (zoneText !== undefined) calls.push({ written, probe: `now.${name}(${zoneText})` });
  });
  return calls;
}
