import { jsonLimits, type JsonLimits } from '../json-limits.js';

/**
 * Most evaluation steps one condition may take on the worst request data the service
 * accepts. It admits one scan nested in a comprehension (`roles.exists(r, r in list)`
 * on two 1,000-element lists: ~1M steps, 13 ms measured) and rejects a comprehension
 * nested in another over request lists (4M steps and up: 150 ms to hours).
 */
export const maxConditionSteps = 2_000_000;

/** A worst case: steps to evaluate, and sizes if the value is a collection. */
interface Estimate {
  readonly steps: number;
  /** Elements, if the value is a list or map. */
  readonly size: number;
  /** Elements of each element, if those are collections. */
  readonly elementSize: number;
}

interface AstNode {
  readonly op: string;
  readonly args: unknown;
}

const comprehensions = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);

function isAstNode(value: unknown): value is AstNode {
  return typeof value === 'object' && value !== null && 'op' in value && 'args' in value;
}

function childNodes(args: unknown, found: AstNode[] = []): AstNode[] {
  if (isAstNode(args)) found.push(args);
  else if (Array.isArray(args)) for (const item of args) childNodes(item, found);
  return found;
}

class Estimator {
  readonly #data: Estimate;
  readonly #splitSize: number;

  constructor(limits: JsonLimits) {
    // Any value read from the request is at most maxCollection wide at every level.
    this.#data = { steps: 1, size: limits.maxCollection, elementSize: limits.maxCollection };
    this.#splitSize = limits.maxString + 1;
  }

  estimate(node: AstNode, scope: ReadonlyMap<string, Estimate>): Estimate {
    const { op, args } = node;
    if (op === 'value') return { steps: 1, size: 0, elementSize: 0 };
    if (op === 'id' && typeof args === 'string') return scope.get(args) ?? this.#data;
    if (op === 'rcall' && Array.isArray(args) && typeof args[0] === 'string') {
      if (comprehensions.has(args[0]) && isAstNode(args[1]) && Array.isArray(args[2])) {
        return this.#comprehension(args[0], args[1], args[2], scope);
      }
      if (args[0] === 'split') return { ...this.#sum(args, scope), size: this.#splitSize, elementSize: 0 };
    }
    const parts = childNodes(args).map((child) => this.estimate(child, scope));
    const steps = parts.reduce((total, part) => total + part.steps, 1);
    const widest = (list: readonly Estimate[]) => Math.max(0, ...list.map((p) => p.size));
    switch (op) {
      case 'list':
        return { steps, size: parts.length, elementSize: widest(parts) };
      case 'map':
        return { steps, size: parts.length / 2, elementSize: widest(parts) };
      case 'in':
        // Membership scans the right-hand collection.
        return { steps: steps + (parts[1]?.size ?? 0), size: 0, elementSize: 0 };
      case '+':
        return { steps, size: parts.reduce((total, part) => total + part.size, 0), elementSize: widest(parts) };
      case '[]':
        return { steps, size: parts[0]?.elementSize ?? 0, elementSize: this.#data.elementSize };
      case '?:':
        return { steps, size: widest(parts.slice(1)), elementSize: Math.max(0, ...parts.slice(1).map((p) => p.elementSize)) };
      default:
        return { steps, size: this.#data.size, elementSize: this.#data.elementSize };
    }
  }

  #sum(args: unknown, scope: ReadonlyMap<string, Estimate>): Estimate {
    const steps = childNodes(args).reduce((total, child) => total + this.estimate(child, scope).steps, 1);
    return { steps, size: 0, elementSize: 0 };
  }

  #comprehension(name: string, receiverNode: AstNode, macroArgs: readonly unknown[], scope: ReadonlyMap<string, Estimate>): Estimate {
    const receiver = this.estimate(receiverNode, scope);
    const element: Estimate = { steps: 1, size: receiver.elementSize, elementSize: this.#data.elementSize };
    // `all(x, p)` binds x; the two-variable form `all(k, v, p)` binds both.
    const boundCount = macroArgs.length === 3 && isAstNode(macroArgs[1]) && macroArgs[1].op === 'id' && name !== 'map' ? 2 : 1;
    const inner = new Map(scope);
    for (const bound of macroArgs.slice(0, boundCount)) {
      if (isAstNode(bound) && typeof bound.args === 'string') inner.set(bound.args, element);
    }
    const body = macroArgs.slice(boundCount).filter(isAstNode).map((arg) => this.estimate(arg, inner));
    const perElement = body.reduce((total, part) => total + part.steps, 1);
    const produced = body.at(-1);
    return {
      steps: receiver.steps + receiver.size * perElement,
      size: name === 'map' || name === 'filter' ? receiver.size : 0,
      elementSize: name === 'map' ? produced?.size ?? 0 : name === 'filter' ? receiver.elementSize : 0,
    };
  }
}

/**
 * The worst-case number of evaluation steps of a parsed condition (its public AST) on
 * request data within `limits`: every list or map read from the request has at most
 * `maxCollection` elements, `split()` yields at most `maxString + 1`, a comprehension
 * costs its range times its body, `in` costs the size of the collection it scans.
 * An upper bound for the usual shapes; it exists to reject nested comprehensions over
 * request data, which are what can run away (1,000² or 1,000³ iterations).
 */
export function conditionCost(ast: unknown, limits: JsonLimits = jsonLimits): number {
  if (!isAstNode(ast)) return 1;
  return new Estimator(limits).estimate(ast, new Map()).steps;
}
