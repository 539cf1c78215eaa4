import { comprehensions, isAstNode, type AstNode } from './cel-ast.js';

/** A map the type check lets a condition read any key of: the request's objects. */
export const dynMap = 'map<string, dyn>';

/**
 * The fields of the variables the type check declares a shape for (cel.ts): a typo in one
 * (`subject.rolez`) fails the load.
 */
export const declaredShapes = {
  subject: { type: 'string', id: 'string', roles: 'list<string>', scopes: 'list<string>', aliases: 'list<string>', properties: dynMap },
  resource: { type: 'string', id: 'string', properties: dynMap },
  action: { name: 'string', properties: dynMap },
};

const shapes = new Map<string, Readonly<Record<string, string>>>(Object.entries(declaredShapes));

/** A field read directly on a variable, `subject.rolez` of `has(subject.rolez.x)`. */
export interface VariableField {
  readonly variable: string;
  readonly field: string;
}

/** The selection in `node`, a chain of `.` selections, made directly on the variable it starts from. */
function selectionOnVariable(node: unknown): VariableField | undefined {
  let current = node;
  while (isAstNode(current) && current.op === '.') {
    const [target, field] = current.args as [unknown, unknown];
    if (isAstNode(target) && target.op === 'id' && typeof target.args === 'string' && typeof field === 'string') return { variable: target.args, field };
    current = target;
  }
  return undefined;
}

/** The field `node` tests when it is `has(v.f…)`, read directly on the variable `v`. */
function hasTarget(node: AstNode): VariableField | undefined {
  const [name, first] = Array.isArray(node.args) ? (node.args as unknown[]) : [];
  return node.op === 'call' && name === 'has' && Array.isArray(first) ? selectionOnVariable(first[0]) : undefined;
}

/** The field `node` reads when it is `v.f`, read directly on the variable `v`. */
function directSelection(node: AstNode): VariableField | undefined {
  if (node.op !== '.' || !Array.isArray(node.args)) return undefined;
  const [target, field] = node.args as [unknown, unknown];
  return isAstNode(target) && target.op === 'id' && typeof target.args === 'string' && typeof field === 'string' ? { variable: target.args, field } : undefined;
}

/**
 * The first field `select` finds in `node` that no declared shape has. A comprehension variable
 * of the same name (`items.exists(subject, has(subject.x))`) hides the declared one.
 */
function firstUndeclared(node: unknown, select: (node: AstNode) => VariableField | undefined, hidden: ReadonlySet<string>): VariableField | undefined {
  if (Array.isArray(node)) {
    for (const item of node) {
      const found = firstUndeclared(item, select, hidden);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (!isAstNode(node)) return undefined;
  const tested = select(node);
  const shape = tested === undefined || hidden.has(tested.variable) ? undefined : shapes.get(tested.variable);
  if (tested !== undefined && shape !== undefined && !Object.hasOwn(shape, tested.field)) return tested;
  const [name, first, second] = Array.isArray(node.args) ? (node.args as unknown[]) : [];
  if (node.op === 'rcall' && typeof name === 'string' && comprehensions.has(name) && Array.isArray(second)) {
    // Every argument but the last may name a variable the macro binds; hiding one too many only checks less.
    const inner = new Set(hidden);
    for (const arg of second.slice(0, -1)) if (isAstNode(arg) && arg.op === 'id' && typeof arg.args === 'string') inner.add(arg.args);
    return firstUndeclared(first, select, hidden) ?? firstUndeclared(second, select, inner);
  }
  return firstUndeclared(node.args, select, hidden);
}

/**
 * The first `has()` in `node` that tests a field no declared shape has (`has(subject.rolez)`).
 * The library's type check of `has()` reads only the variable, so such a test loaded and was
 * false on every request: a deny rule `has(subject.suspended)`, written for
 * `subject.properties.suspended`, never applied.
 */
export function undeclaredHasField(node: unknown): VariableField | undefined {
  return firstUndeclared(node, hasTarget, new Set());
}

/**
 * The first field read in `node` directly on a variable whose declared shape has none such
 * (`resource.owner` for `resource.properties.owner`): the field the library's type check refuses
 * with `No such key: owner` alone, which names neither the variable nor where its attributes are.
 */
export function undeclaredField(node: unknown): VariableField | undefined {
  return firstUndeclared(node, directSelection, new Set());
}
