/**
 * Compares strings by UTF-16 code units, as `Array.prototype.sort` does by default. Unlike
 * `localeCompare`, which follows the process's locale (Estonian sorts `z` after `s`), it orders
 * the same strings the same way on every machine: versions hashed and lists shown in this order
 * agree between replicas.
 */
export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
