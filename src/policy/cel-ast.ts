/** A node of a condition as the CEL library parses it: an operator and its arguments. */
export interface AstNode {
  readonly op: string;
  readonly args: unknown;
}

export function isAstNode(value: unknown): value is AstNode {
  return typeof value === 'object' && value !== null && 'op' in value && 'args' in value;
}

/** Calls `visit` with every node in `node` (a node, or an array holding nodes), each before those under it. */
export function forEachNode(node: unknown, visit: (node: AstNode) => void): void {
  if (Array.isArray(node)) {
    for (const item of node) forEachNode(item, visit);
  } else if (isAstNode(node)) {
    visit(node);
    forEachNode(node.args, visit);
  }
}
