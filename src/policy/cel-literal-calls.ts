import { forEachNode, isAstNode, textOf, type AstNode } from './cel-ast.js';
import { timeFieldNames } from './cel-time-fields.js';

/** A call a condition makes with a literal time zone, whose outcome no request can change. */
export interface LiteralCall {
  /** The call as the condition writes it: `timestamp(context.t).getHours("CET ")`. */
  readonly written: string;
  /** A condition that makes the call with the same literal, on `now`. */
  readonly probe: string;
}

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
 * Each timestamp getter in `ast`, a parsed condition written as `source`, given a literal time
 * zone (`now.getHours("Europe/Pariss")`). The getter reads a timestamp of the request, usually
 * `now`, so it is no part that reads no variable (cel-constants.ts); but whether the zone exists
 * is the same on every request: evaluated once at load on `now`, a getter that fails shows a
 * condition that fails wherever it reaches the call, a deny rule that applies with a
 * condition_error and a permit that never applies.
 */
export function literalCalls(ast: unknown, source: string): LiteralCall[] {
  const calls: LiteralCall[] = [];
  forEachNode(ast, (node) => {
    if (node.op !== 'rcall' || !Array.isArray(node.args)) return;
    const [name, , second] = node.args as unknown[];
    if (typeof name !== 'string' || !timeFieldNames.has(name)) return;
    const written = textOf(node, source);
    const zone = literalArgument(second);
    const zoneText = zone === undefined ? undefined : textOf(zone, source);
    if (written !== undefined && zoneText !== undefined) calls.push({ written, probe: `now.${name}(${zoneText})` });
  });
  return calls;
}
