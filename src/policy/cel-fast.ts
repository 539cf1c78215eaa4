import type { ConditionVariables } from './cel.js';
import { asciiCase, trimWhiteSpace } from './cel-spec-functions.js';

/**
 * A fast path for the conditions policies write most: comparisons of request attributes with
 * each other and with literals, `in` a list (or a list mapped by `trim()`, `lowerAscii()` or both,
 * `aliases.map(a, a.trim().lowerAscii())`), `has()`, `type() ==`, a number negated, a string
 * trimmed or lower-cased (`trim()`, `lowerAscii()`, as the service defines them), joined by `&&`,
 * `||` and `!`.
 * Such a condition is compiled into plain JavaScript closures once, at load. The closures
 * answer only where CEL's answer is certain and the same as the library's: equal types on both
 * sides of a comparison, numbers for ordering, booleans for the logic, plain JSON objects for
 * field access. Anything else (a missing key, mixed types, a value of another kind) gives
 * `undecided`, and the library evaluates the whole condition as before, errors included.
 * A condition using anything outside this subset is not compiled at all.
 */

/** What a fast closure returns when the library must decide. */
export const undecided: unique symbol = Symbol('undecided');

type Fast = (vars: ConditionVariables) => unknown;

interface Node {
  readonly op: string;
  readonly args: unknown;
}

function isNode(value: unknown): value is Node {
  return typeof value === 'object' && value !== null && 'op' in value && 'args' in value;
}

const variables = new Set(['subject', 'resource', 'action', 'context']);

/** CEL type names `type()` can be compared with here, by the JavaScript type of JSON data. */
const typeNames = new Set(['string', 'double', 'bool', 'null_type']);

/** A JSON object as parsed: the library reads it as a map. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

/** The CEL type of a JSON scalar, or undefined for anything else. */
function scalarType(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return 'string';
    case 'number':
      return 'double';
    case 'boolean':
      return 'bool';
    default:
      return value === null ? 'null_type' : undefined;
  }
}

/** Equal when both are of one scalar type; `undecided` otherwise. */
function equal(a: unknown, b: unknown): boolean | typeof undecided {
  const type = scalarType(a);
  return type !== undefined && type === scalarType(b) ? a === b : undecided;
}

/**
 * Whether `value` has member `key` as CEL sees it: a member holding `undefined` (the resource's
 * `id` when a request names none) is absent to the library, and so to the fast path.
 */
function present(value: Record<string, unknown>, key: string): boolean {
  return Object.hasOwn(value, key) && value[key] !== undefined;
}

function select(operand: Fast, key: string): Fast {
  return (vars) => {
    const value = operand(vars);
    return isPlainObject(value) && present(value, key) ? value[key] : undecided;
  };
}

const orderings = new Map<string, (a: number, b: number) => boolean>([
  ['<', (a, b) => a < b],
  ['<=', (a, b) => a <= b],
  ['>', (a, b) => a > b],
  ['>=', (a, b) => a >= b],
]);

/** Ordering of two numbers; strings are left to the library (CEL orders them by code point). */
function ordering(op: string, l: unknown, r: unknown): Fast | undefined {
  const test = orderings.get(op);
  const left = compile(l);
  const right = compile(r);
  if (test === undefined || left === undefined || right === undefined) return undefined;
  return (vars) => {
    const a = left(vars);
    const b = right(vars);
    return typeof a === 'number' && typeof b === 'number' ? test(a, b) : undecided;
  };
}

/** `type(e) == name` or `type(e) != name` for a scalar type name. */
function typeTest(call: Node, name: Node, negate: boolean): Fast | undefined {
  const [fn, callArgs] = call.args as [unknown, unknown];
  if (fn !== 'type' || !Array.isArray(callArgs) || callArgs.length !== 1) return undefined;
  if (name.op !== 'id' || typeof name.args !== 'string' || !typeNames.has(name.args)) return undefined;
  const operand = compile(callArgs[0]);
  if (operand === undefined) return undefined;
  const expected = name.args;
  return (vars) => {
    const type = scalarType(operand(vars));
    return type === undefined ? undecided : (type === expected) !== negate;
  };
}

function equality(node: Node, negate: boolean): Fast | undefined {
  const [l, r] = node.args as [unknown, unknown];
  const typed = isNode(l) && isNode(r) && l.op === 'call' ? typeTest(l, r, negate) : undefined;
  if (typed !== undefined) return typed;
  const left = compile(l);
  const right = compile(r);
  if (left === undefined || right === undefined) return undefined;
  return (vars) => {
    const same = equal(left(vars), right(vars));
    return same === undecided ? undecided : same !== negate;
  };
}

/**
 * The string methods of `list.map(v, v.m())` or `list.map(v, v.m1().m2())`, as one function, with
 * `list`: a list of strings mapped by `stringMethods` (an owner compared with aliases as entity
 * data spells them, `trim().lowerAscii()`).
 */
function mappedByMethod(node: Node): { readonly list: unknown; readonly method: (text: string) => string } | undefined {
  const [name, list, callArgs] = node.args as [unknown, unknown, unknown];
  if (name !== 'map' || !Array.isArray(callArgs) || callArgs.length !== 2) return undefined;
  const [variable, body]: unknown[] = callArgs;
  if (!isNode(variable) || variable.op !== 'id' || !isNode(body)) return undefined;
  // Read from the outermost call in, so the innermost comes first: `v.trim().lowerAscii()` trims first.
  const methods: ((text: string) => string)[] = [];
  let target: unknown = body;
  for (;;) {
    const call = isNode(target) ? stringMethodCall(target) : undefined;
    if (call === undefined) break;
    methods.unshift(call.method);
    target = call.target;
  }
  const onVariable = isNode(target) && target.op === 'id' && target.args === variable.args;
  if (methods.length === 0 || !onVariable) return undefined;
  return { list, method: methods.reduce((inner, outer) => (text) => outer(inner(text))) };
}

/** `e in [literal strings]`, `e in` a list from the data, or `e in list.map(v, v.m())`, for a string `e`. */
function membership(node: Node): Fast | undefined {
  const [l, r] = node.args as [unknown, unknown];
  const item = compile(l);
  if (item === undefined || !isNode(r)) return undefined;
  const mapped = r.op === 'rcall' ? mappedByMethod(r) : undefined;
  if (mapped !== undefined) return mappedMembership(item, mapped.list, mapped.method);
  if (r.op === 'list') {
    const elements = r.args as unknown[];
    const strings = elements.map((e) => (isNode(e) && e.op === 'value' && typeof e.args === 'string' ? e.args : undefined));
    if (strings.some((s) => s === undefined)) return undefined;
    const set = new Set(strings);
    return (vars) => {
      const value = item(vars);
      return typeof value === 'string' ? set.has(value) : undecided;
    };
  }
  return mappedMembership(item, r, (text) => text);
}

/** A string `item` in the list `listNode` holds, each element as `method` maps it; a list of strings only. */
function mappedMembership(item: Fast, listNode: unknown, method: (text: string) => string): Fast | undefined {
  const list = compile(listNode);
  if (list === undefined) return undefined;
  return (vars) => {
    const value = item(vars);
    const values = list(vars);
    if (typeof value !== 'string' || !Array.isArray(values)) return undecided;
    // Every element is read, as CEL maps the whole list before `in` reads it: one not a
    // string leaves the answer to the library even after a match.
    let found = false;
    for (const element of values) {
      if (typeof element !== 'string') return undecided;
      found ||= method(element) === value;
    }
    return found;
  };
}

function has(node: Node): Fast | undefined {
  const [fn, callArgs] = node.args as [unknown, unknown];
  if (fn !== 'has' || !Array.isArray(callArgs) || callArgs.length !== 1) return undefined;
  const field: unknown = callArgs[0];
  if (!isNode(field) || field.op !== '.') return undefined;
  const [target, key] = field.args as [unknown, unknown];
  const operand = compile(target);
  if (operand === undefined || typeof key !== 'string') return undefined;
  return (vars) => {
    const value = operand(vars);
    return isPlainObject(value) ? present(value, key) : undecided;
  };
}

/** The string methods compiled here, as conditions call them (cel-spec-functions.ts). */
const stringMethods = new Map<string, (text: string) => string>([
  ['trim', trimWhiteSpace],
  ['lowerAscii', (text) => asciiCase(text, true)],
]);

/** The method of `e.trim()` or `e.lowerAscii()`, and `e`; undefined for any other node. */
function stringMethodCall(node: Node): { readonly method: (text: string) => string; readonly target: unknown } | undefined {
  if (node.op !== 'rcall') return undefined;
  const [name, target, callArgs] = node.args as [unknown, unknown, unknown];
  const method = typeof name === 'string' ? stringMethods.get(name) : undefined;
  return method === undefined || !Array.isArray(callArgs) || callArgs.length !== 0 ? undefined : { method, target };
}

/** `e.trim()` or `e.lowerAscii()` on a string `e`. */
function stringMethod(node: Node): Fast | undefined {
  const call = stringMethodCall(node);
  const operand = call === undefined ? undefined : compile(call.target);
  if (call === undefined || operand === undefined) return undefined;
  const { method } = call;
  return (vars) => {
    const value = operand(vars);
    return typeof value === 'string' ? method(value) : undecided;
  };
}

function logic(node: Node): Fast | undefined {
  const [l, r] = node.args as [unknown, unknown];
  const left = compile(l);
  const right = compile(r);
  if (left === undefined || right === undefined) return undefined;
  // Short-circuits as CEL does; a non-boolean on either side is the library's to judge.
  const decisive = node.op === '||';
  return (vars) => {
    const a = left(vars);
    if (a === decisive) return decisive;
    if (a !== !decisive) return undecided;
    const b = right(vars);
    return typeof b === 'boolean' ? b : undecided;
  };
}

function compile(node: unknown): Fast | undefined {
  if (!isNode(node)) return undefined;
  switch (node.op) {
    case 'value': {
      const value = node.args;
      return scalarType(value) === undefined ? undefined : () => value;
    }
    case 'id': {
      const name = node.args;
      if (typeof name !== 'string' || !variables.has(name)) return undefined;
      return (vars) => vars[name as 'subject'];
    }
    case '.': {
      const [target, key] = node.args as [unknown, unknown];
      const operand = compile(target);
      return operand === undefined || typeof key !== 'string' ? undefined : select(operand, key);
    }
    case '==':
    case '!=':
      return equality(node, node.op === '!=');
    case '<':
    case '<=':
    case '>':
    case '>=': {
      const [l, r] = node.args as [unknown, unknown];
      return ordering(node.op, l, r);
    }
    case '&&':
    case '||':
      return logic(node);
    case '!_': {
      const operand = compile(node.args);
      if (operand === undefined) return undefined;
      return (vars) => {
        const value = operand(vars);
        return typeof value === 'boolean' ? !value : undecided;
      };
    }
    case '-_': {
      // JSON numbers are doubles, which negate without error; anything else is the library's.
      const operand = compile(node.args);
      if (operand === undefined) return undefined;
      return (vars) => {
        const value = operand(vars);
        return typeof value === 'number' ? -value : undecided;
      };
    }
    case 'rcall':
      return stringMethod(node);
    case 'in':
      return membership(node);
    case 'call':
      return has(node);
    default:
      return undefined;
  }
}

/** The fast closure of a parsed condition's AST, or undefined when it uses more than the subset. */
export function fastCondition(ast: unknown): Fast | undefined {
  return compile(ast);
}
