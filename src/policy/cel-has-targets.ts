import { forEachNode, isAstNode } from './cel-ast.js';
import { declaredShapes } from './cel-has-fields.js';

/** A `has()` that looks a field up in a value its type says is no map: `has(subject.roles.admin)`. */
export interface HasOnNonMap {
  /** What the field is looked up in, as written: `subject.roles`. */
  readonly target: string;
  /** Its type: `list<string>`. */
  readonly type: string;
  /** The field looked up in it: `admin`. */
  readonly field: string;
}

/** A type as the library's check records it on a node (`checkedType`), or as a declared shape names one. */
interface CheckedType {
  readonly kind: string;
  readonly name: string;
  readonly valueType?: CheckedType;
}

// The library names the type of a variable declared with a schema `$` and the variable's name.
const shapes = new Map<string, Readonly<Record<string, string>>>(Object.entries(declaredShapes).map(([variable, shape]) => [`$${variable}`, shape]));

function checkedTypeOf(node: unknown): CheckedType | undefined {
  const type = (node as { checkedType?: Partial<CheckedType> }).checkedType;
  return typeof type?.kind === 'string' && typeof type.name === 'string' ? (type as CheckedType) : undefined;
}

/** A declared field's type, named as in `declaredShapes`; the values of a map it names are left unknown. */
function declaredType(name: string): CheckedType {
  if (name.startsWith('list<')) return { kind: 'list', name };
  if (name.startsWith('map<')) return { kind: 'map', name };
  return { kind: name === 'dyn' ? 'dyn' : 'primitive', name };
}

/** The type of `key` of a value of `type`, a map or a declared variable; undefined when unknown. */
function fieldType(type: CheckedType, key: string): CheckedType | undefined {
  if (type.kind === 'map') return type.valueType;
  const declared = shapes.get(type.name)?.[key];
  return declared === undefined ? undefined : declaredType(declared);
}

/**
 * The first `has()` in `ast`, a condition the library has type-checked, that looks a field up
 * in a value of a type that is no map: a string, number, bool, null or list. The library's check
 * of `has(e.f)` types only the variable `e` starts from, and `has()` is an error on anything but
 * a map (cel-strict.ts), so `has(subject.roles.admin)` loaded and failed on every request: a deny
 * rule on it applied to every request of its actions, a permit never did. A value whose type is
 * unknown at load (`dyn`, the values of `properties` and `context`) may be a map, and passes.
 */
export function hasOnNonMap(ast: unknown): HasOnNonMap | undefined {
  let found: HasOnNonMap | undefined;
  forEachNode(ast, ({ op, args }) => {
    if (found !== undefined || op !== 'call' || !Array.isArray(args) || args[0] !== 'has' || !Array.isArray(args[1])) return;
    const keys: string[] = [];
    let node: unknown = args[1][0];
    while (isAstNode(node) && (node.op === '.' || node.op === '.?') && Array.isArray(node.args) && typeof node.args[1] === 'string') {
      keys.unshift(node.args[1]);
      node = node.args[0];
    }
    if (!isAstNode(node) || node.op !== 'id' || typeof node.args !== 'string') return;
    let target = node.args;
    let type = checkedTypeOf(node);
    for (const key of keys) {
      if (type === undefined) return;
      if (type.kind === 'primitive' || type.kind === 'list') {
        found = { target, type: type.name, field: key };
        return;
      }
      type = fieldType(type, key);
      target = `${target}.${key}`;
    }
  });
  return found;
}
