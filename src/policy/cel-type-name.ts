import { Duration, UnsignedInt } from '@marcbachmann/cel-js/evaluator';
import { isMap } from './cel-map-keys.js';

/**
 * The CEL type of a value a condition evaluated to, as `type()` names it (`null_type`, `list`,
 * `map`, `double`…): what a condition typed `dyn` at load yielded where it should have been a
 * bool. JavaScript's names (`object` for null, a list and a map alike) tell a policy's author
 * nothing a condition can test.
 */
export function celTypeName(value: unknown): string {
  if (value === null) return 'null_type';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'string') return 'string';
  if (typeof value === 'number') return 'double';
  if (typeof value === 'bigint') return 'int';
  if (value instanceof UnsignedInt) return 'uint';
  if (value instanceof Duration) return 'duration';
  if (value instanceof Date) return 'timestamp';
  if (value instanceof Uint8Array) return 'bytes';
  if (Array.isArray(value) || value instanceof Set) return 'list';
  if (isMap(value)) return 'map';
  return 'a value of another type';
}
