import { Environment } from '@marcbachmann/cel-js';
import { inKeyOrder } from '../canonical-json.js';
import { comprehensionOf, comprehensions, forEachNode, isAstNode, textOf, type AstNode } from './cel-ast.js';
import { conditionCost, maxConditionSteps } from './cel-cost.js';
import { fastCondition, undecided } from './cel-fast.js';
import { declaredShapes, dynMap, undeclaredField, undeclaredHasField } from './cel-has-fields.js';
import { hasOnNonMap } from './cel-has-targets.js';
import { constantParts, type ConstantPart } from './cel-constants.js';
import { literalCalls } from './cel-literal-calls.js';
import { requestIntArithmetic } from './cel-request-ints.js';
import { nameComparisons, type NameComparison } from './cel-request-names.js';
import { requestTime } from './cel-request-times.js';
import { requestType, type RequestType } from './cel-request-types.js';
import { typedMapKeys } from './cel-map-keys.js';
import { evaluateInRange, intLiteralBeyondInt64, typeTimeSums } from './cel-ranges.js';
import { boundRuntimeTypes } from './cel-runtime-types.js';
import { specFunctionNames, withIntConversions, withSpecFunctions, withStringConversions } from './cel-spec-functions.js';
import { boundAbsorbedErrors, evaluateStrictly, startDecision } from './cel-strict.js';
import { getterOutOfRange } from './cel-time-getters.js';
import { timeMember } from './cel-time-members.js';
import { oncePerObject, typableVariables } from './cel-values.js';
import { nearestName } from '../nearest-name.js';

/**
 * A condition compiled once at load; throws on evaluation errors (missing key, wrong type).
 * Its comparisons of lists and maps draw on the budget of the decision being made, which
 * `startDecision()` (cel-strict.ts) starts.
 */
export interface CompiledCondition {
  (vars: ConditionVariables): unknown;
  /** Whether it reads `now`: its value can change with time alone, so no decision it is part of may be cached. */
  readonly readsNow: boolean;
  /** The most evaluation steps it may take on request data within the limits (cel-cost.ts). */
  readonly steps: number;
  /** Its comparisons of the resource type or action name with names, which each rule it is part of judges (cel-request-names.ts). */
  readonly namesCompared: readonly NameComparison[];
}

/** The variables every condition sees. */
export interface ConditionVariables {
  readonly subject: unknown;
  readonly resource: unknown;
  readonly action: unknown;
  readonly context: unknown;
  readonly now: Date;
}

boundRuntimeTypes();
boundAbsorbedErrors();

const limits = { maxAstNodes: 512, maxDepth: 32, maxListElements: 256, maxMapEntries: 256, maxCallArguments: 8 };

// A list or map literal whose elements differ in type is a list(dyn) or map(dyn, dyn), as CEL
// types it (cel-go unless asked for homogeneous literals): the library refused one by default,
// even a value of the request beside a literal (`[subject.properties.region, "GLOBAL"]`).
const options = { limits, homogeneousAggregateLiterals: false };

// Evaluation runs on plain maps (the cheapest shape); checking runs against declared
// shapes, so a typo such as `subject.rolez` fails at load rather than at request time.
const runtimeEnv = withSpecFunctions(new Environment(options))
  .registerVariable('subject', dynMap)
  .registerVariable('resource', dynMap)
  .registerVariable('action', dynMap)
  .registerVariable('context', dynMap)
  .registerVariable('now', 'google.protobuf.Timestamp');

const checkEnv = withStringConversions(withIntConversions(new Environment(options)))
  .registerVariable({ name: 'subject', schema: declaredShapes.subject })
  .registerVariable({ name: 'resource', schema: declaredShapes.resource })
  .registerVariable({ name: 'action', schema: declaredShapes.action })
  .registerVariable('context', dynMap)
  .registerVariable('now', 'google.protobuf.Timestamp');

/**
 * Functions a condition may call. `matches` is left out on purpose: the library runs it
 * on backtracking JavaScript regexes, so one crafted pattern could stall the event loop.
 */
const allowedFunctions = new Set([
  'size', 'has', 'exists', 'exists_one', 'all', 'map', 'filter',
  'contains', 'startsWith', 'endsWith', 'lowerAscii', 'upperAscii', 'trim', 'split', 'join', 'indexOf',
  'string', 'int', 'uint', 'double', 'bool', 'dyn', 'type', 'timestamp', 'duration',
  'getFullYear', 'getMonth', 'getDate', 'getDayOfMonth', 'getDayOfWeek', 'getDayOfYear',
  'getHours', 'getMinutes', 'getSeconds', 'getMilliseconds',
]);

/** cel-go's extension libraries, which conditions do not have, by the name their functions are called on (`sets.contains`). */
const extensionNamespaces: ReadonlySet<string> = new Set(['base64', 'lists', 'math', 'optional', 'sets', 'strings']);

/** What to write instead of a function conditions do not have: a plain form that does what it does, or the name another language gives it. */
const insteadOf: ReadonlyMap<string, string> = new Map([
  ['sets.contains', 'for sets.contains(a, b) write b.all(x, x in a)'],
  ['sets.intersects', 'for sets.intersects(a, b) write b.exists(x, x in a)'],
  ['math.greatest', 'for math.greatest(a, b) write a > b ? a : b'],
  ['math.least', 'for math.least(a, b) write a < b ? a : b'],
  ['existsOne', 'write exists_one'],
  ['matches', 'regular expressions are not allowed, as they would run backtracking: write startsWith, endsWith or contains'],
  ['now', 'now is a timestamp, not a function: write now'],
  ['toLowerCase', 'write lowerAscii'],
  ['toUpperCase', 'write upperAscii'],
  ['len', 'write size'],
  ['length', 'write size'],
  ['includes', 'for a list write x in list, for a string s.contains(x)'],
  ['getYear', 'write getFullYear'],
]);

/** What to write instead of `name`, a function conditions do not have: a plain form, or the allowed function it most likely misspells. */
function insteadOfCall(name: string): string | undefined {
  const instead = insteadOf.get(name);
  if (instead !== undefined) return instead;
  const meant = nearestName(name, allowedFunctions);
  return meant === undefined ? undefined : `write ${meant}`;
}

/**
 * The functions `ast` calls that conditions do not have, each as written, with what to write
 * instead where there is a plain form. One of an extension library is named with its library,
 * unless a comprehension binds a variable so (`["a"].exists(sets, sets.contains("a"))`).
 */
function refusedCalls(ast: unknown): string[] {
  const bound = new Set<string>();
  forEachNode(ast, (node) => {
    const comprehension = comprehensionOf(node);
    if (comprehension !== undefined) bound.add(comprehension.variable);
  });
  const refused = new Set<string>();
  forEachCall(ast, ([name, receiver]) => {
    const library = isAstNode(receiver) && receiver.op === 'id' && typeof receiver.args === 'string' ? receiver.args : undefined;
    if (library !== undefined && extensionNamespaces.has(library) && !bound.has(library)) refused.add(`${library}.${name}`);
    else if (!allowedFunctions.has(name)) refused.add(name);
  });
  return [...refused].map((name) => {
    const instead = insteadOfCall(name);
    return instead === undefined ? name : `${name} (${instead})`;
  });
}

export class ConditionCompileError extends Error {
  override readonly name = 'ConditionCompileError';
}

/** Calls `visit` with the arguments of every function call in `node`, whose first is the function's name. */
function forEachCall(node: unknown, visit: (args: [string, ...unknown[]]) => void): void {
  forEachNode(node, ({ op, args }) => {
    if ((op === 'call' || op === 'rcall') && Array.isArray(args) && typeof args[0] === 'string') visit(args as [string, ...unknown[]]);
  });
}

function calledFunctions(node: unknown): Set<string> {
  const found = new Set<string>();
  forEachCall(node, ([name]) => found.add(name));
  return found;
}

/**
 * Whether `name` is read as a variable anywhere in `node`. A member named so (`resource.now`)
 * is a plain string in the tree, not an `id`; a comprehension variable named so counts, which
 * errs on the side of not caching.
 */
function readsVariable(node: unknown, name: string): boolean {
  if (Array.isArray(node)) return node.some((item) => readsVariable(item, name));
  if (!isAstNode(node)) return false;
  return (node.op === 'id' && node.args === name) || readsVariable(node.args, name);
}

/** The names of the spec replacements, as a run-time error quotes them, with the names written. */
const replacedNames = new RegExp(`\\b(${[...specFunctionNames.values()].join('|')})\\b`, 'g');
const writtenNames = new Map([...specFunctionNames].map(([written, replacement]) => [replacement, written]));

/**
 * `error` with the functions it names as the condition wrote them: the library quotes the calls
 * it bound, renamed to their spec replacements ("no matching overload for 'specSize(double)'").
 */
function asWritten(error: unknown): unknown {
  if (error instanceof Error) error.message = error.message.replace(replacedNames, (name) => writtenNames.get(name) ?? name);
  return error;
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}

/**
 * Each request value in key order, made once: every rule and batch item evaluated on the same
 * value (a batch shares its context) reuses the copy, as for its cache key.
 */
const inKeyOrderOnce = oncePerObject(inKeyOrder);

function variablesInKeyOrder(vars: ConditionVariables): ConditionVariables {
  return {
    subject: inKeyOrderOnce(vars.subject),
    resource: inKeyOrderOnce(vars.resource),
    action: inKeyOrderOnce(vars.action),
    context: inKeyOrderOnce(vars.context),
    now: vars.now,
  };
}

/**
 * Binds `ast`, a parsed condition, to the functions and evaluations CEL defines. After every
 * check, which read the names as written (see cel-spec-functions.ts), and before its first
 * evaluation, which binds each node (see cel-strict.ts).
 */
function bindAsSpecified(ast: unknown): void {
  forEachCall(ast, (args) => {
    args[0] = specFunctionNames.get(args[0]) ?? args[0];
  });
  typeTimeSums(ast);
  evaluateStrictly(ast);
  evaluateInRange(ast);
  typedMapKeys(ast);
}

/** The variables a probe sees: it reads `now` at most. */
const probeVariables: ConditionVariables = { subject: {}, resource: {}, action: {}, context: {}, now: new Date(0) };

/**
 * Why `probe`, a condition whose outcome no request can change, fails; undefined when it
 * succeeds. It is evaluated as a condition is, as the first of a decision (its comparisons of
 * lists and maps on a budget of their own).
 */
function probeFailure(probe: string): string | undefined {
  const parsed = runtimeEnv.parse(probe);
  bindAsSpecified(parsed.ast);
  startDecision();
  try {
    (parsed as (vars: ConditionVariables) => unknown)(probeVariables);
    return undefined;
  } catch (error) {
    return firstLine((asWritten(error) as Error).message);
  }
}

/** The smallest part of `part` that fails, and why (`1/0` of `1/0 == 1`); undefined when `part` succeeds. */
function failingPart(part: ConstantPart): { readonly written: string; readonly failure: string } | undefined {
  const failure = probeFailure(part.written);
  if (failure === undefined) return undefined;
  for (const inner of part.within) {
    const failing = failingPart(inner);
    if (failing !== undefined) return failing;
  }
  return { written: part.written, failure };
}

/** The times JSON sends as text, by the name of their type. */
const timeTypes = new Map([['google.protobuf.Timestamp', 'timestamp'], ['google.protobuf.Duration', 'duration']]);

/** Why `typed` fails the load, and what to write instead where there is something to write. */
function requestTypeMessage(typed: RequestType): string {
  const { written, value, types } = typed;
  // `in` a list of one such type is `==` it; of several, each is named.
  const op = typed.op === 'in' ? '==' : typed.op;
  const outcome = `type: ${written} is ${op === '==' ? 'false' : 'true'} on every request: ${value}, a value of the request,`;
  if (types.length > 1) {
    const named = `${types.slice(0, -1).join(', ')} or ${types.at(-1) ?? ''}`;
    if (types.every((type) => type === 'int' || type === 'uint')) {
      return `${outcome} is a double when it is a number, never an int or a uint: write type(${value}) == double, or for a whole number ${value} == double(int(${value}))`;
    }
    return `${outcome} is JSON, never of type ${named}: the type of a JSON value is null_type, bool, double, string, list or map`;
  }
  const type = typed.type;
  const time = timeTypes.get(type);
  if (time !== undefined) {
    const read = op === '==' ? `, and read it with ${time}(${value})` : '';
    return `${outcome} is JSON, never a ${time}: one sent as text is a string: write type(${value}) ${op} string${read}`;
  }
  if (type === 'int' || type === 'uint') {
    const whole = op === '==' ? `for a whole number ${value} == double(int(${value}))` : `for a number that is not whole ${value} != double(int(${value}))`;
    return `${outcome} is a double when it is a number, never ${type === 'int' ? 'an' : 'a'} ${type}: write type(${value}) ${op} double, or ${whole}`;
  }
  return `${outcome} is JSON, never of type ${type}: the type of a JSON value is null_type, bool, double, string, list or map`;
}

interface TwoVariableCall {
  readonly call: AstNode;
  /** The list or map it visits. */
  readonly range: unknown;
  /** The two variables it binds, as written: an index or key, then an element or value. */
  readonly names: readonly [string, string];
}

/**
 * The call in `ast` written as one of cel-go's two-variable comprehensions (`m.exists(k, v, v == "a")`)
 * that binds `name`, a variable the library's check found unknown: its macros bind one variable,
 * so it checks the first two arguments as expressions. `map(x, p, t)`, which filters by `p`,
 * is refused so only when its `p` is a name that is not a variable there.
 */
function twoVariableCall(ast: unknown, name: string): TwoVariableCall | undefined {
  let found: TwoVariableCall | undefined;
  forEachNode(ast, (node) => {
    const comprehension = found === undefined ? comprehensionOf(node) : undefined;
    const [second, body, ...rest] = comprehension?.steps ?? [];
    if (comprehension === undefined || body === undefined || rest.length > 0) return;
    if (!isAstNode(second) || second.op !== 'id' || typeof second.args !== 'string') return;
    if (name === comprehension.variable || name === second.args) found = { call: node, range: comprehension.range, names: [comprehension.variable, second.args] };
  });
  return found;
}

/** A call of `all`, `exists`, `exists_one`, `map` or `filter` that is no comprehension, and its parts. */
interface MisusedComprehension {
  readonly call: AstNode;
  readonly name: string;
  /** The list or map it was meant to visit: its receiver, or the first argument of a call without one. */
  readonly range: unknown;
  readonly variable: string | undefined;
}

/**
 * The first call in `ast` of a comprehension's name that the library does not read as one: a
 * variable and a condition (`map`: an expression, or a condition and an expression) on the list
 * or map it is called on. The library checks such a call as a function's, so `l.all(r)` was refused
 * as `Unknown variable: r` (saying which variables conditions read) and `l.all()` as an overload
 * the library lacks, neither saying what to write.
 */
function misusedComprehension(ast: unknown): MisusedComprehension | undefined {
  let found: MisusedComprehension | undefined;
  forEachNode(ast, (node) => {
    if (found !== undefined || (node.op !== 'rcall' && node.op !== 'call') || !Array.isArray(node.args)) return;
    const [name, ...rest] = node.args as unknown[];
    if (typeof name !== 'string' || !comprehensions.has(name)) return;
    const [range, args] = node.op === 'rcall' ? [rest[0], rest[1]] : [(rest[0] as unknown[] | undefined)?.[0], (rest[0] as unknown[] | undefined)?.slice(1)];
    if (!Array.isArray(args)) return;
    const [first] = args as unknown[];
    const variable = isAstNode(first) && first.op === 'id' && typeof first.args === 'string' ? first.args : undefined;
    const arities = name === 'map' ? [2, 3] : [2];
    if (node.op === 'rcall' && variable !== undefined && arities.includes(args.length)) return;
    found = { call: node, name, range, variable };
  });
  return found;
}

/** What to write for `misused`, a call the library did not read as the comprehension it names. */
function misusedComprehensionMessage(misused: MisusedComprehension, source: string): string {
  const { call, name } = misused;
  const range = isAstNode(misused.range) ? textOf(misused.range, source) : undefined;
  const variable = misused.variable ?? 'x';
  const takes = name === 'map' ? `a variable and an expression of it (or a condition on it, then an expression)` : `a variable and a condition on it`;
  const on = call.op === 'call' ? ', called on the list or map it visits' : '';
  return `${textOf(call, source) ?? name} is no comprehension: ${name} takes ${takes}${on}: write ${range ?? 'the list'}.${name}(${variable}, …)`;
}

/**
 * `message`, the library's reason for refusing `ast`, parsed from `source`, at its type check,
 * with where to read instead when it names no more than a variable or a field that does not exist,
 * or what to write for a two-variable comprehension, which names its first variable so, and for a
 * call of a comprehension's name that is none (see `misusedComprehension`).
 */
function checkFailure(message: string, ast: unknown, source: string): string {
  const unknown = message.startsWith('Unknown variable: ') ? message.slice('Unknown variable: '.length) : undefined;
  const twoVariables = unknown === undefined ? undefined : twoVariableCall(ast, unknown);
  if (twoVariables !== undefined) {
    const { call, names: [key, value] } = twoVariables;
    const name = (call.args as readonly unknown[])[0] as string;
    const range = isAstNode(twoVariables.range) ? textOf(twoVariables.range, source) : undefined;
    const on = range === undefined ? '' : `${range}.`;
    return (
      `${textOf(call, source) ?? name} binds two variables, as cel-go's two-variable comprehensions do, which conditions do not support: ` +
      `all, exists, exists_one, map and filter bind one: write ${on}${name}(${value}, …) for each element of a list (its index is not available), ` +
      `or ${on}${name}(${key}, …) for each key of a map, reading its value as ${range ?? 'the map'}[${key}]`
    );
  }
  const misused = misusedComprehension(ast);
  if (misused !== undefined) return misusedComprehensionMessage(misused, source);
  if (unknown !== undefined) return `${message}; conditions read subject, resource, action, context and now`;
  const field = undeclaredField(ast);
  if (field === undefined || message !== `No such key: ${field.field}`) return message;
  return `${message} in ${field.variable}.${field.field}; the request's other attributes are under ${field.variable}.properties`;
}

/** Code points of a condition quoted from where the library places its error (see `whereInCondition`). */
const quotedFromError = 24;

/**
 * Where in `source` the library's `error` lies, as text to follow its message: where its parse
 * stopped, or the part its type check refused. Its message names a token or an overload alone
 * (`Unexpected character: =`, `found no matching overload for 'size(int)'`), and its pointer, on
 * lines of its own, was dropped, which left an author of a condition of hundreds of characters to
 * search it whole. Counted in code points from 1. Nothing for a limit the condition exceeds as a
 * whole (`Exceeded maxAstNodes (512)`), nor where the library gives no place.
 */
function whereInCondition(error: unknown, source: string): string {
  const pos = (error as { node?: { pos?: unknown } }).node?.pos;
  if (typeof pos !== 'number' || (error as Error).message.startsWith('Exceeded ')) return '';
  const column = [...source.slice(0, pos)].length + 1;
  const rest = [...source.slice(pos)];
  if (rest.length === 0) return ` at the end of the condition (column ${column})`;
  const shown = rest.slice(0, quotedFromError).join('').trimEnd();
  return ` at column ${column} of the condition: ${shown}${rest.length > quotedFromError ? ' …' : ''}`;
}

/** Parses and type-checks a CEL condition; throws ConditionCompileError with a readable reason. */
export function compileCondition(source: string): CompiledCondition {
  let parsed: ReturnType<typeof runtimeEnv.parse>;
  try {
    parsed = runtimeEnv.parse(source);
  } catch (error) {
    throw new ConditionCompileError(`syntax: ${firstLine((error as Error).message)}${whereInCondition(error, source)}`);
  }
  const called = calledFunctions(parsed.ast);
  const banned = refusedCalls(parsed.ast);
  if (banned.length > 0) {
    throw new ConditionCompileError(`function not allowed: ${banned.join(', ')}`);
  }
  const literal = intLiteralBeyondInt64(parsed.ast);
  if (literal !== undefined) throw new ConditionCompileError(`syntax: integer literal beyond int64: ${literal}`);
  const cost = conditionCost(parsed.ast);
  if (cost > maxConditionSteps) {
    throw new ConditionCompileError(
      `too costly: up to ${cost} evaluation steps on request data within the limits (at most ${maxConditionSteps}); avoid nesting comprehensions over request lists, and reading a request string (size, lowerAscii, contains…) for each element of one`,
    );
  }
  // Parsed again by the checking environment: its check leaves each node's type on the node.
  const checkedAst = checkEnv.parse(source);
  typeTimeSums(checkedAst.ast);
  const checked = checkedAst.check();
  if (!checked.valid) {
    const message = firstLine(checked.error?.message ?? 'invalid expression');
    const failure = checkFailure(message, parsed.ast, source);
    // A reason of ours quotes the part it is about; the library's own names an overload or a key.
    throw new ConditionCompileError(`type: ${failure}${failure === message ? whereInCondition(checked.error, source) : ''}`);
  }
  const member = timeMember(checkedAst.ast);
  if (member !== undefined) {
    const read = member.name === undefined ? 'no fields or keys' : `no field ${member.name}`;
    const getters = member.type === 'timestamp' ? 'getHours() and getDayOfWeek()' : 'getHours() and getSeconds()';
    throw new ConditionCompileError(`type: a ${member.type} has ${read}: read its parts with its getters, such as ${getters}`);
  }
  const undeclared = undeclaredHasField(parsed.ast);
  if (undeclared !== undefined) {
    throw new ConditionCompileError(`type: No such key: ${undeclared.field} in has(${undeclared.variable}.${undeclared.field}); the request's other attributes are under ${undeclared.variable}.properties`);
  }
  const nonMap = hasOnNonMap(checkedAst.ast);
  if (nonMap !== undefined) {
    throw new ConditionCompileError(`type: has() needs a map to look up ${nonMap.field} in, and ${nonMap.target} has type ${nonMap.type}`);
  }
  const time = requestTime(checkedAst.ast, source);
  if (time !== undefined) {
    throw new ConditionCompileError(`type: ${time.written}, a value of the request, is never a ${time.type}: read it with ${time.type}(${time.written})`);
  }
  const mixed = requestIntArithmetic(checkedAst.ast, source);
  if (mixed !== undefined) {
    throw new ConditionCompileError(`type: ${mixed.written} mixes a value of the request, a double when it is a number, with the ${mixed.type} ${mixed.literal}: write ${mixed.instead}`);
  }
  const typed = requestType(checkedAst.ast, source);
  if (typed !== undefined) throw new ConditionCompileError(requestTypeMessage(typed));
  const getter = getterOutOfRange(checkedAst.ast, source);
  if (getter !== undefined) {
    const { written, op, literal, counts } = getter;
    const name = `${getter.getter}()`;
    throw new ConditionCompileError(
      op === 'in'
        ? `value: ${written} never finds ${literal}: ${name} counts ${counts}`
        : `value: ${written} is ${op === '==' ? 'false' : 'true'} on every request: ${name} is never ${literal}, it counts ${counts}`,
    );
  }
  if (checked.type !== 'bool' && checked.type !== 'dyn') {
    throw new ConditionCompileError(`type: a condition must be a bool, this one is ${String(checked.type)}`);
  }
  for (const part of constantParts(parsed.ast, source)) {
    const failing = failingPart(part);
    if (failing !== undefined) throw new ConditionCompileError(`value: ${failing.written} is an error whatever the request: ${failing.failure}`);
  }
  for (const call of literalCalls(parsed.ast, source)) {
    const failure = probeFailure(call.probe);
    if (failure !== undefined) throw new ConditionCompileError(`value: ${call.written} is an error whatever the request: ${failure}`);
  }
  const namesCompared = nameComparisons(parsed.ast, source);
  const fast = fastCondition(parsed.ast);
  bindAsSpecified(parsed.ast);
  const evaluate = parsed as (vars: ConditionVariables) => unknown;
  // A comprehension over a map visits its keys in the order they are enumerated, which CEL
  // leaves open and a request chooses: `map` and `filter` list them so, and `all` and `exists`
  // stop, or spend the decision's comparisons (cel-strict.ts), at whichever key comes first.
  // Such a condition sees every map in sorted key order, so one question (one cache key, which
  // sorts keys too) has one answer, cached or not. The fast path enumerates no map (it walks
  // lists only), so it reads the request's objects as they are: copied into key order for each
  // evaluation, they cost the default approval rule, whose `map` walks the subject's aliases,
  // a tenth of a whole request.
  const ordered = [...comprehensions].some((name) => called.has(name));
  const condition = (given: ConditionVariables): unknown => {
    if (fast !== undefined) {
      const value = fast(given);
      if (value !== undecided) return value;
    }
    const vars = ordered ? variablesInKeyOrder(given) : given;
    try {
      return evaluate(vars);
    } catch (error) {
      // The library cannot type an object with a `constructor` member (cel-values.ts): it
      // reports an unsupported type, or throws a TypeError when that member is null. Made
      // typable, such data is read like any other; without such members the error stands.
      // The data is made typable once per request value, however many conditions fail on it;
      // a condition failing on such members is evaluated once more, so within twice its steps,
      // and on what is left of the decision's comparisons: the first try's count too.
      const typed = typableVariables(vars);
      if (typed === vars) throw asWritten(error);
      try {
        return evaluate(typed);
      } catch (retried) {
        throw asWritten(retried);
      }
    }
  };
  return Object.assign(condition, { readsNow: readsVariable(parsed.ast, 'now'), steps: cost, namesCompared });
}
