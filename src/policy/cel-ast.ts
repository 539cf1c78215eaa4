import { parse, serialize, type ASTNode } from '@marcbachmann/cel-js';
import { UnsignedInt } from '@marcbachmann/cel-js/evaluator';

/** A node of a condition as the CEL library parses it: an operator and its arguments. */
export interface AstNode {
  readonly op: string;
  readonly args: unknown;
}

/** The macros that visit a list's elements or a map's keys one at a time. */
export const comprehensions: ReadonlySet<string> = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);

export function isAstNode(value: unknown): value is AstNode {
  return typeof value === 'object' && value !== null && 'op' in value && 'args' in value;
}

/** The name of the type the library's check recorded on `node` (`int`, `type`, `dyn`…); undefined before a check. */
export function checkedTypeName(node: unknown): string | undefined {
  const type = (node as { checkedType?: { name?: unknown } }).checkedType;
  return typeof type?.name === 'string' ? type.name : undefined;
}

/** The names CEL gives its two integer types. */
export const intTypeNames: ReadonlySet<string> = new Set(['int', 'uint']);

/** A comprehension's parts: `items.exists(i, i.ok)` ranges over `items`, binding `i` in `i.ok`. */
export interface Comprehension {
  /** The list or map it visits, read where the comprehension stands. */
  readonly range: unknown;
  /** The name it binds to each element or key. */
  readonly variable: string;
  /** What it evaluates for each element (with `map(i, p, t)`, the filter `p` then `t`), where `variable` is bound. */
  readonly steps: readonly unknown[];
}

/** `node`'s parts, when it is a comprehension; the library's macros bind one variable, their first argument. */
export function comprehensionOf(node: AstNode): Comprehension | undefined {
  if (node.op !== 'rcall' || !Array.isArray(node.args)) return undefined;
  const [name, range, args] = node.args as unknown[];
  if (typeof name !== 'string' || !comprehensions.has(name) || !Array.isArray(args)) return undefined;
  const [variable, ...steps] = args as unknown[];
  if (!isAstNode(variable) || variable.op !== 'id' || typeof variable.args !== 'string') return undefined;
  return { range, variable: variable.args, steps };
}

/** The text of `node` in `source`, the condition it was parsed from, as the parser located it. */
export function textOf(node: AstNode, source: string): string | undefined {
  const { start, end } = node as { start?: unknown; end?: unknown };
  return typeof start === 'number' && typeof end === 'number' ? source.slice(start, end) : undefined;
}

/**
 * A tree as text, operators and values alone, not where they were written: the library's own text
 * of it does not tell `1 - (2 + 3)` from `1 - 2 + 3`, writing both as the latter.
 */
function shapeOf(node: unknown): string {
  return JSON.stringify(node, (_key, value: unknown) => {
    // A checked node carries its type too, which refers back to itself.
    if (isAstNode(value)) return { op: value.op, args: value.args };
    if (typeof value === 'bigint') return { int: String(value) };
    return value instanceof UnsignedInt ? { uint: String(value.valueOf()) } : value;
  });
}

/** Whether `text` parses to the tree of shape `shape`. */
function parsesTo(text: string, shape: string): boolean {
  try {
    return shapeOf(parse(text).ast) === shape;
  } catch {
    return false;
  }
}

/** Where the run of `mark`s (space between them aside) next to `from` in `source` begins or ends, each one in turn, `from` first. */
function* acrossMarks(source: string, from: number, mark: '(' | ')'): Generator<number> {
  yield from;
  const step = mark === '(' ? -1 : 1;
  for (let at = from; ; ) {
    while (/\s/.test(source.charAt(mark === '(' ? at - 1 : at))) at += step;
    if (source.charAt(mark === '(' ? at - 1 : at) !== mark) return;
    at += step;
    yield at;
  }
}

/**
 * `node`, a node of a condition written as `source` not yet bound (see cel.ts), as CEL text that
 * parses to it: as written where that does, else as the library writes it, else as written with
 * the brackets around it taken back; undefined where none does. The text the parser locates
 * leaves out the parentheses around a first or last operand (`1 + (2 * 3` of `1 + (2 * 3)`),
 * which the library's text restores (`1 + 2 * 3`), but not where the operand binds as tightly
 * (`1 - (2 + 3`, which it writes `1 - 2 + 3`): there they are taken from the source.
 */
export function writtenOf(node: AstNode, source: string): string | undefined {
  const shape = shapeOf(node);
  const text = textOf(node, source);
  if (text !== undefined && parsesTo(text, shape)) return text;
  const serialized = serialize(node as ASTNode);
  if (parsesTo(serialized, shape)) return serialized;
  const { start, end } = node as { start?: unknown; end?: unknown };
  if (typeof start !== 'number' || typeof end !== 'number') return undefined;
  for (const from of acrossMarks(source, start, '(')) {
    for (const to of acrossMarks(source, end, ')')) {
      const bracketed = source.slice(from, to);
      if (parsesTo(bracketed, shape)) return bracketed;
    }
  }
  return undefined;
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

/** What a node's evaluation is handed: the library's evaluator, of which only `run` is used. */
export interface Evaluator {
  run(node: unknown, ctx: unknown): unknown;
}

/**
 * A node as its evaluation sees it: its operands, and the operator's function the library's type
 * check binds to it (`handle`), called with the operand values, the node and the evaluator.
 */
export interface BoundNode extends AstNode {
  readonly handle?: (...operands: unknown[]) => unknown;
}

/** How a node is evaluated, in place of the library's evaluation of its operator. */
export type Evaluation = (ev: Evaluator, node: BoundNode, ctx: unknown) => unknown;

/**
 * The evaluation of a node of two operands that evaluates both, left first, and hands their
 * values to `evaluate` with the node and the evaluator.
 */
export function onOperands(evaluate: (left: unknown, right: unknown, node: BoundNode, ev: Evaluator) => unknown): Evaluation {
  return (ev, node, ctx) => {
    const [leftNode, rightNode] = node.args as [unknown, unknown];
    return evaluate(ev.run(leftNode, ctx), ev.run(rightNode, ctx), node, ev);
  };
}

/**
 * Sets `evaluation` on `node`, a node of a condition parsed and not yet evaluated: the first
 * evaluation binds each node to what is set on it (`setMeta`).
 */
export function setEvaluation(node: AstNode, evaluation: Evaluation): void {
  const parsed = node as AstNode & { setMeta?: (key: 'evaluate', value: Evaluation) => unknown };
  if (typeof parsed.setMeta !== 'function') throw new Error(`cannot bind \`${node.op}\`: the CEL library has changed`);
  parsed.setMeta('evaluate', evaluation);
}

/** How a node is type-checked: handed the library's checker, the node and its scope, it gives the node's type. */
export type Check = (checker: unknown, node: AstNode, ctx: unknown) => unknown;

/**
 * Sets on `node`, a node of a condition parsed and not yet checked, the check `typed` makes of
 * the library's own for its operator: a check, or the first evaluation (which checks each node
 * not yet checked), then types the node so.
 */
export function setCheck(node: AstNode, typed: (check: Check) => Check): void {
  const parsed = node as AstNode & { meta?: { check?: unknown }; setMeta?: (key: 'check', value: Check) => unknown };
  const check = parsed.meta?.check;
  if (typeof check !== 'function' || typeof parsed.setMeta !== 'function') throw new Error(`cannot check \`${node.op}\`: the CEL library has changed`);
  parsed.setMeta('check', typed(check as Check));
}

/** The operator's function bound to `node`; throws when the library bound none. */
export function operatorOf(node: BoundNode): (...operands: unknown[]) => unknown {
  if (typeof node.handle !== 'function') throw new Error(`\`${node.op}\` is not bound to its operator: the CEL library has changed`);
  return node.handle;
}

/** The names the comprehensions in `node` bind: there, such a name is that variable, whatever it holds. */
export function boundNames(node: unknown): ReadonlySet<string> {
  const names = new Set<string>();
  forEachNode(node, (at) => {
    const comprehension = comprehensionOf(at);
    if (comprehension !== undefined) names.add(comprehension.variable);
  });
  return names;
}
