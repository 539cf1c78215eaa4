import { Duration, UnsignedInt } from '@marcbachmann/cel-js/evaluator';

/** A map as the library types values: a Map, or an object that is no instance of a class. */
export function isMap(value: unknown): value is Map<unknown, unknown> | Record<string, unknown> {
  if (value instanceof Map) return true;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * The CEL type of a value a condition made, as `type()` and cel-go name it (`null_type`, `list`,
 * `map`, `double`, `google.protobuf.Timestamp`…): for messages about a value of the wrong type (a
 * condition that yields no bool, an index that is no number). JavaScript's names (`object` for
 * null, a list and a map alike) tell a policy's author nothing a condition can test.
 */
export function celTypeName(value: unknown): string {
  if (value === null) return 'null_type';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'string') return 'string';
  if (typeof value === 'number') return 'double';
  if (typeof value === 'bigint') return 'int';
  if (value instanceof UnsignedInt) return 'uint';
  if (value instanceof Duration) return 'google.protobuf.Duration';
  if (value instanceof Date) return 'google.protobuf.Timestamp';
  if (value instanceof Uint8Array) return 'bytes';
  if (Array.isArray(value) || value instanceof Set) return 'list';
  if (isMap(value)) return 'map';
  // The one other value a condition makes: a type (`type(1)`).
  return 'type';
}
