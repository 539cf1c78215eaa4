import { Environment } from '@marcbachmann/cel-js';

/**
 * The CEL library, to choose an operator's or a function's overload for a value of type `dyn`
 * (every request attribute), works out the value's type element within element (the first
 * element of a list, the first member of a map, and so on down) and keeps every type it meets,
 * and every overload it chose for each, for the life of the process, in caches shared by every
 * Environment. A request that nests a value deeply, with another shape each time, so left
 * types behind for good: `context.mfa` 60 levels deep under the shipped `D3` condition held
 * ~86 KB more per request (3,000 such requests 258 MB), and so did any attribute a condition
 * reads. Below `typedDepth` levels an element is typed `dyn`, as an empty list's elements are,
 * which bounds the types there can be to a few hundred; the value itself is evaluated as before.
 * No condition chooses an overload by the type of an element that deep.
 */
const typedDepth = 4;

interface ValueType {
  readonly kind: string;
  readonly keyType: { readonly hasDynType: boolean };
  readonly valueType: { readonly hasDynType: boolean };
}

/** The parts of the library's evaluator this works with. */
interface LibraryEvaluator {
  readonly registry: {
    getListType(element: unknown): ValueType;
    getMapType(key: unknown, value: unknown): ValueType;
  };
  debugType(value: unknown): ValueType;
}

function firstMember(map: object): [unknown, unknown] | undefined {
  if (map instanceof Map) return map.entries().next().value as [unknown, unknown] | undefined;
  for (const key in map) return [key, (map as Record<string, unknown>)[key]];
  return undefined;
}

/** The library's own `debugTypeDeep`, its depth bounded. */
function boundedType(evaluator: LibraryEvaluator, value: unknown, depth: number): unknown {
  const type = evaluator.debugType(value);
  if (depth >= typedDepth) return type;
  if (type.kind === 'list') {
    const first: unknown = Array.isArray(value) ? value[0] : (value as Set<unknown>).values().next().value;
    return first === undefined ? type : evaluator.registry.getListType(boundedType(evaluator, first, depth + 1));
  }
  if (type.kind === 'map') {
    const first = firstMember(value as object);
    if (first === undefined) return type;
    return evaluator.registry.getMapType(
      type.keyType.hasDynType ? boundedType(evaluator, first[0], depth + 1) : type.keyType,
      type.valueType.hasDynType ? boundedType(evaluator, first[1], depth + 1) : type.valueType,
    );
  }
  return type;
}

/**
 * The prototype of the library's evaluator, shared by every Environment, once it is known to
 * have `methods` of its own. The evaluator is not exported: a function's handler is called with
 * it as `this`, so one call of a probe finds it. Throws when the library no longer has what a
 * caller replaces, so an upgrade that changed it stops the start rather than undo the
 * replacement unseen.
 */
export function libraryEvaluator(methods: readonly string[], replacedBy: string): object {
  let prototype: object | undefined;
  new Environment()
    .registerFunction('pdpEvaluatorProbe(): bool', function (this: Partial<LibraryEvaluator>) {
      const fits = typeof this.debugType === 'function' && typeof this.registry?.getListType === 'function' && typeof this.registry.getMapType === 'function';
      const found: unknown = Object.getPrototypeOf(this);
      if (fits && typeof found === 'object' && found !== null && methods.every((method) => Object.hasOwn(found, method))) prototype = found;
      return true;
    })
    .evaluate('pdpEvaluatorProbe()');
  if (prototype === undefined) {
    throw new Error(`the CEL library's evaluator is not as ${replacedBy} expects: check it against this version of @marcbachmann/cel-js`);
  }
  return prototype;
}

/** Replaces the library's evaluator's `debugTypeDeep` by `boundedType`, for every Environment. */
export function boundRuntimeTypes(): void {
  Object.defineProperty(libraryEvaluator(['debugTypeDeep'], 'src/policy/cel-runtime-types.ts'), 'debugTypeDeep', {
    value: function debugTypeDeep(this: LibraryEvaluator, value: unknown) {
      return boundedType(this, value, 0);
    },
    writable: true,
    configurable: true,
  });
}
