/** Strings JSON writes as they are, quotes aside, one byte a character. */
const plainAscii = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** Bytes of `text` as a JSON string in UTF-8, its quotes and escapes included. */
function stringBytes(text: string): number {
  return plainAscii.test(text) ? text.length + 2 : Buffer.byteLength(JSON.stringify(text));
}

/**
 * Whether `value`, JSON data, takes more than `max` bytes as compact JSON in UTF-8 (as
 * `JSON.stringify` writes it). The walk stops once the count passes `max`: deciding costs what
 * `max` bytes of it do, however large the value.
 */
export function jsonBytesOver(value: unknown, max: number): boolean {
  let bytes = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item === 'string') bytes += stringBytes(item);
    else if (Array.isArray(item)) {
      bytes += 2 + Math.max(0, item.length - 1);
      for (let i = item.length - 1; i >= 0; i--) stack.push(item[i]);
    } else if (typeof item === 'object' && item !== null) {
      const keys = Object.keys(item);
      bytes += 2 + Math.max(0, keys.length - 1);
      for (const key of keys) {
        bytes += stringBytes(key) + 1;
        stack.push((item as Record<string, unknown>)[key]);
      }
    } else bytes += String(item).length;
    if (bytes > max) return true;
  }
  return false;
}
