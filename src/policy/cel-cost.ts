import { jsonLimits } from '../json-limits.js';
import { comprehensions, isAstNode, type AstNode } from './cel-ast.js';
import { maxEntityAliases, maxEntityNameLength } from './entities.js';

/**
 * Most evaluation steps one condition may take on the worst request data the service
 * accepts. It admits one scan nested in a comprehension (`roles.exists(r, r in list)`
 * on two 1,000-element lists: ~1M steps, 13 ms measured) and rejects a comprehension
 * nested in another over request lists (4M steps and up: 150 ms to hours).
 */
export const maxConditionSteps = 2_000_000;

/**
 * What one step (~13 ns) pays for when a condition builds a value, as measured here: `join`
 * writes a character in ~1.7 ns (16M characters: 28 ms), so 16 a step, which keeps a join
 * of request strings loadable (a request can hold nowhere near 16M characters at the body
 * limit); `+` on strings, with the comparison that reads its result, ~0.13 ns a character
 * (V8 joins ropes lazily), so 100; `+` on lists copies an element in ~5 ns, so 2.
 */
const joinCharsPerStep = 16;
const concatCharsPerStep = 100;
const concatElementsPerStep = 2;

/**
 * What one step pays for when a function reads a string, measured on the worst text found for
 * each (`bench/cel-string-functions.mjs`: 1,000 calls on 16K characters) and, as for `join`,
 * allowing up to twice that, so that one call of most per element of a request list loads:
 * `lowerAscii()`/`upperAscii()` ~1.6 ns a character (text mixing ASCII with other characters),
 * `trim()` ~1.6 (text all White_Space), `double()` ~0.8, `int()`/`uint()` ~0.3 (leading zeros,
 * which they read however many), `timestamp()` ~0.4 (a fraction of a second, which RFC 3339
 * allows of any length), so 16 a step; `size()` ~2.4 (lone surrogates), so 11, and
 * ~1.5 ns a member of a map, so 6; `startsWith()`/`endsWith()` ~3.5 a character compared, so
 * 8; `contains()`/`indexOf()` 6-9 a character searched (`"ΩΩ…Ω".contains("Ωb")`), so 4;
 * `duration()` 50-65 ns a character (`"1s1s…"`, a BigInt sum per part), so 3 steps a character.
 */
const rewriteCharsPerStep = 16;
const countCharsPerStep = 11;
const countMembersPerStep = 6;
const compareCharsPerStep = 8;
const searchCharsPerStep = 4;
const parseStepsPerChar = 3;

/**
 * A timestamp getter given a time zone (`now.getHours("Europe/Berlin")`) reads the wall-clock time
 * there in ~2 µs (Intl formats it, and it is read back), so 125 steps, again allowing up to twice
 * that; a zone read at run time may be one not named before, whose formatter takes ~60 µs to make
 * (or ~23 µs to refuse), so 2,300.
 */
const zonedGetterSteps = 125;
const newZoneSteps = 2_300;
const timestampGetters = new Set([
  'getFullYear', 'getMonth', 'getDate', 'getDayOfMonth', 'getDayOfWeek', 'getDayOfYear',
  'getHours', 'getMinutes', 'getSeconds', 'getMilliseconds',
]);

/** Longest text of a number, timestamp or duration turned into a string. */
const scalarText = 32;

/** A worst case: steps to evaluate, and sizes if the value is a collection or a string. */
interface Estimate {
  readonly steps: number;
  /** Elements, if the value is a list or map. */
  readonly size: number;
  /**
   * Elements of the largest collection this value holds, at any depth: its elements, theirs
   * and so on (the request's are all at most maxCollection wide; a value the condition builds,
   * `[[l + l]][0][0]`, may hold a larger one deeper down).
   */
  readonly elementSize: number;
  /** Longest string this value is or holds (at any depth), in UTF-16 code units. */
  readonly length: number;
  /** Known to be a number, bool, null, timestamp, duration or type: never a string or collection. */
  readonly scalar?: boolean;
  /** Known to be a string (a literal, or built as one): `+` with it joins text, never lists. */
  readonly text?: boolean;
  /** A literal: known when the condition loads. */
  readonly literal?: boolean;
}

/** Operators whose result is a bool or a number (or a time), never a string or collection. */
const scalarOperators = new Set(['==', '!=', '<', '<=', '>', '>=', '&&', '||', '!_', '-_', '-', '*', '/', '%']);

/** Functions whose result is a bool, number, time or type. */
const scalarFunctions = new Set([
  'size', 'has', 'contains', 'startsWith', 'endsWith', 'indexOf', 'int', 'uint', 'double', 'bool', 'type',
  'timestamp', 'duration', 'getFullYear', 'getMonth', 'getDate', 'getDayOfMonth', 'getDayOfWeek', 'getDayOfYear',
  'getHours', 'getMinutes', 'getSeconds', 'getMilliseconds',
]);

/** Functions returning their receiver's text changed in place: no longer than it. */
const sameLengthFunctions = new Set(['lowerAscii', 'upperAscii', 'trim']);

/**
 * Steps a call takes beyond one for the characters it reads: a function of a string reads all
 * of it (`size()` of a map all its members), `startsWith()` and `endsWith()` as much as they
 * compare, `contains()` and `indexOf()` their receiver and argument; a timestamp getter given a
 * zone reads the wall-clock time there. Others read no string.
 */
function readingSteps(name: string, parts: readonly Estimate[]): number {
  const text = parts[0]?.length ?? 0;
  const other = parts[1]?.length ?? 0;
  switch (name) {
    case 'lowerAscii':
    case 'upperAscii':
    case 'trim':
    case 'double':
    case 'int':
    case 'uint':
    case 'timestamp':
      return Math.ceil(text / rewriteCharsPerStep);
    case 'size':
      return Math.max(Math.ceil(text / countCharsPerStep), Math.ceil((parts[0]?.size ?? 0) / countMembersPerStep));
    case 'startsWith':
    case 'endsWith':
      return Math.ceil(Math.min(text, other) / compareCharsPerStep);
    case 'contains':
    case 'indexOf':
      return Math.ceil((text + other) / searchCharsPerStep);
    case 'duration':
      return text * parseStepsPerChar;
    default:
      if (!timestampGetters.has(name) || parts[1] === undefined) return 0;
      return parts[1].literal === true ? zonedGetterSteps : newZoneSteps;
  }
}

function childNodes(args: unknown, found: AstNode[] = []): AstNode[] {
  if (isAstNode(args)) found.push(args);
  else if (Array.isArray(args)) for (const item of args) childNodes(item, found);
  return found;
}

function literal(value: unknown): Estimate {
  if (typeof value === 'string') return { steps: 1, size: 0, elementSize: 0, length: value.length, text: true, literal: true };
  if (value instanceof Uint8Array) return { steps: 1, size: 0, elementSize: 0, length: value.length };
  const scalar = value === null || ['number', 'bigint', 'boolean'].includes(typeof value);
  return { steps: 1, size: 0, elementSize: 0, length: scalar ? 0 : scalarText, scalar };
}

/**
 * `subject.aliases`: the names entity data gives the subject (claims state none), held to its
 * schema, not to the request's limits, so a rule may trim and lower-case each one.
 */
const subjectAliases: Estimate = { steps: 2, size: maxEntityAliases, elementSize: 0, length: maxEntityNameLength };

/** Whether `args` of a `.` node read `aliases` from the subject, not from a comprehension variable named `subject`. */
function isSubjectAliases(args: unknown, scope: ReadonlyMap<string, Estimate>): boolean {
  if (!Array.isArray(args)) return false;
  const [target, key]: unknown[] = args;
  return key === 'aliases' && isAstNode(target) && target.op === 'id' && target.args === 'subject' && !scope.has('subject');
}

const widest = (list: readonly Estimate[]) => Math.max(0, ...list.map((p) => p.size));
/** The largest collection any of `list` holds, or is: what a collection of them holds. */
const held = (list: readonly Estimate[]) => Math.max(widest(list), ...list.map((p) => p.elementSize));
const longest = (list: readonly Estimate[]) => Math.max(0, ...list.map((p) => p.length));

class Estimator {
  readonly #data: Estimate;

  constructor() {
    // Any value read from the request is at most maxCollection wide at every level,
    // and none of its strings is longer than maxString.
    this.#data = { steps: 1, size: jsonLimits.maxCollection, elementSize: jsonLimits.maxCollection, length: jsonLimits.maxString };
  }

  estimate(node: AstNode, scope: ReadonlyMap<string, Estimate>): Estimate {
    const { op, args } = node;
    if (op === 'value') return literal(args);
    if (op === 'id' && typeof args === 'string') return scope.get(args) ?? this.#data;
    if (op === '.' && isSubjectAliases(args, scope)) return subjectAliases;
    if (op === 'rcall' && Array.isArray(args) && typeof args[0] === 'string') {
      if (comprehensions.has(args[0]) && isAstNode(args[1]) && Array.isArray(args[2])) {
        return this.#comprehension(args[0], args[1], args[2], scope);
      }
      if ((args[0] === 'split' || args[0] === 'join') && isAstNode(args[1])) {
        return this.#text(args[0], args[1], args[2], scope);
      }
    }
    const parts = childNodes(args).map((child) => this.estimate(child, scope));
    const steps = parts.reduce((total, part) => total + part.steps, 1);
    const scalar: Estimate = { steps, size: 0, elementSize: 0, length: 0, scalar: true };
    switch (op) {
      case 'list':
        return { steps, size: parts.length, elementSize: held(parts), length: longest(parts) };
      case 'map':
        return { steps, size: parts.length / 2, elementSize: held(parts), length: longest(parts) };
      case 'in':
        // Membership scans the right-hand collection, one step an element: the item looked up
        // is never a list or map, which would be compared in full (cel-strict.ts).
        return { ...scalar, steps: steps + (parts[1]?.size ?? 0) };
      case '+':
        return this.#concatenation(steps, parts);
      case '.':
      case '[]':
        return {
          steps,
          size: Math.max(parts[0]?.elementSize ?? 0, op === '.' ? this.#data.size : 0),
          elementSize: Math.max(parts[0]?.elementSize ?? 0, this.#data.elementSize),
          length: parts[0]?.length ?? 0,
        };
      case '?:': {
        const branches = parts.slice(1);
        return { steps, size: widest(branches), elementSize: Math.max(0, ...branches.map((p) => p.elementSize)), length: longest(branches) };
      }
      default:
        break;
    }
    if (scalarOperators.has(op)) return scalar;
    if ((op === 'call' || op === 'rcall') && Array.isArray(args) && typeof args[0] === 'string') {
      const name = args[0];
      const read = steps + readingSteps(name, parts);
      if (scalarFunctions.has(name)) return { ...scalar, steps: read };
      if (name === 'string') return { steps, size: 0, elementSize: 0, length: Math.max(scalarText, longest(parts)), text: true };
      if (name === 'dyn' && parts.length === 1 && parts[0] !== undefined) return { ...parts[0], steps };
      if (op === 'rcall' && sameLengthFunctions.has(name)) return { steps: read, size: 0, elementSize: 0, length: parts[0]?.length ?? 0, text: true };
    }
    // Anything else may hand back request data or any part of its operands.
    return {
      steps,
      size: Math.max(this.#data.size, held(parts)),
      elementSize: Math.max(this.#data.elementSize, held(parts)),
      length: Math.max(this.#data.length, longest(parts)),
    };
  }

  /**
   * `a + b`: numbers (and times) add in one step; strings and lists are copied, so the
   * step costs the size of its result. Strings grow by their lengths, lists by their sizes.
   */
  #concatenation(steps: number, parts: readonly Estimate[]): Estimate {
    if (parts.some((part) => part.scalar === true)) return { steps, size: 0, elementSize: 0, length: 0, scalar: true };
    const length = parts.reduce((total, part) => total + part.length, 0);
    // A string operand makes it text: the other side cannot be a list, however it was read.
    if (parts.some((part) => part.text === true)) return { steps: steps + Math.ceil(length / concatCharsPerStep), size: 0, elementSize: 0, length, text: true };
    const size = parts.reduce((total, part) => total + part.size, 0);
    const copied = Math.max(Math.ceil(size / concatElementsPerStep), Math.ceil(length / concatCharsPerStep));
    return { steps: steps + copied, size, elementSize: Math.max(0, ...parts.map((part) => part.elementSize)), length };
  }

  /**
   * `s.split(sep)` yields at most one piece per character of `s`, plus one; `l.join(sep)`
   * a string as long as all the elements and separators. Both are charged their output,
   * and the string split may itself have been built by the condition (`join`, `+`).
   */
  #text(name: string, receiverNode: AstNode, callArgs: unknown, scope: ReadonlyMap<string, Estimate>): Estimate {
    const receiver = this.estimate(receiverNode, scope);
    const parts = childNodes(callArgs).map((child) => this.estimate(child, scope));
    const steps = parts.reduce((total, part) => total + part.steps, 1 + receiver.steps);
    if (name === 'split') {
      const pieces = receiver.length + 1;
      return { steps: steps + pieces, size: pieces, elementSize: 0, length: receiver.length };
    }
    const separator = parts[0]?.length ?? 0;
    const length = receiver.size * receiver.length + Math.max(0, receiver.size - 1) * separator;
    return { steps: steps + receiver.size + Math.ceil(length / joinCharsPerStep), size: 0, elementSize: 0, length, text: true };
  }

  #comprehension(name: string, receiverNode: AstNode, macroArgs: readonly unknown[], scope: ReadonlyMap<string, Estimate>): Estimate {
    const receiver = this.estimate(receiverNode, scope);
    const element: Estimate = { steps: 1, size: receiver.elementSize, elementSize: Math.max(receiver.elementSize, this.#data.elementSize), length: receiver.length };
    // `all(x, p)` binds x; the two-variable form `all(k, v, p)` binds both.
    const boundCount = macroArgs.length === 3 && isAstNode(macroArgs[1]) && macroArgs[1].op === 'id' && name !== 'map' ? 2 : 1;
    const inner = new Map(scope);
    for (const bound of macroArgs.slice(0, boundCount)) {
      if (isAstNode(bound) && typeof bound.args === 'string') inner.set(bound.args, element);
    }
    const body = macroArgs.slice(boundCount).filter(isAstNode).map((arg) => this.estimate(arg, inner));
    const perElement = body.reduce((total, part) => total + part.steps, 1);
    const produced = body.at(-1);
    const steps = receiver.steps + receiver.size * perElement;
    if (name === 'map') return { steps, size: receiver.size, elementSize: held(produced === undefined ? [] : [produced]), length: produced?.length ?? 0 };
    if (name === 'filter') return { steps, size: receiver.size, elementSize: receiver.elementSize, length: receiver.length };
    return { steps, size: 0, elementSize: 0, length: 0, scalar: true };
  }
}

/**
 * The worst-case number of evaluation steps of a parsed condition (its public AST) on
 * request data within `jsonLimits`: every list or map read from the request has at most
 * `maxCollection` elements (evaluate() denies a query whose roles, scopes or properties have
 * more) and every string at most `maxString` characters, but for `subject.aliases`, which entity
 * data fills (at most 64 of 1,024 characters); strings
 * built by the condition (`+`, `join`) are followed by their length, so `split()` yields
 * at most one piece per character of what it splits, plus one; a comprehension costs
 * its range times its body, `in` the size of the collection it scans, `+` on
 * strings or lists, `split` and `join` the size of what they produce, and the string
 * functions (`size`, `lowerAscii`, `contains`…) the length of what they read.
 * An upper bound for the usual shapes; it exists to reject nested comprehensions over
 * request data and values grown inside the condition, which are what can run away.
 */
export function conditionCost(ast: unknown): number {
  if (!isAstNode(ast)) return 1;
  return new Estimator().estimate(ast, new Map()).steps;
}
