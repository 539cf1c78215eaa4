import { comprehensions, isAstNode } from './cel-ast.js';

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

/**
 * The first `has()` in `node` that tests a field no declared shape has (`has(subject.rolez)`).
 * The library's type check of `has()` reads only the variable, so such a test loaded and was
 * false on every request: a deny rule `has(subject.suspended)`, written for
 * `subject.properties.suspended`, never applied. A comprehension variable of the same name
 * (`items.exists(subject, has(subject.x))`) hides the declared one.
 */
export function undeclaredHasField(node: unknown, hidden: ReadonlySet<string> = new Set()): VariableField | undefined {
  if (Array.isArray(node)) {
    for (const item of node) {
      const found = undeclaredHasField(item, hidden);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (!isAstNode(node)) return undefined;
  const [name, first, second] = Array.isArray(node.args) ? (node.args as unknown[]) : [];
  if (node.op === 'call' && name === 'has' && Array.isArray(first)) {
    const tested = selectionOnVariable(first[0]);
    const shape = tested === undefined || hidden.has(tested.variable) ? undefined : shapes.get(tested.variable);
    if (tested !== undefined && shape !== undefined && !Object.hasOwn(shape, tested.field)) return tested;
  }
  if (node.op === 'rcall' && typeof name === 'string' && comprehensions.has(name) && Array.isArray(second)) {
    // Every argument but the last may name a variable the macro binds; hiding one too many only checks less.
    const inner = new Set(hidden);
    for (const arg of second.slice(0, -1)) if (isAstNode(arg) && arg.op === 'id' && typeof arg.args === 'string') inner.add(arg.args);
    return undeclaredHasField(first, hidden) ?? undeclaredHasField(second, inner);
  }
  return undeclaredHasField(node.args, hidden);
}
