import { z } from 'zod';
import { isJsonObject } from '../json-object.js';
import { fixtureFileSchema } from './fixtures.js';
import { policySchema } from './schema.js';

/** Longest line an array or object may be written on before it is spread one member a line. */
const formatWidth = 100;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  while (current instanceof z.ZodOptional || current instanceof z.ZodNullable || current instanceof z.ZodDefault) {
    current = current.unwrap() as z.ZodType;
  }
  return current;
}

/**
 * Puts object keys in the order the schema declares them, at every depth the schema
 * describes; keys it does not know follow in their original order, and free-form maps
 * (properties, advice, context) keep theirs.
 */
function reorder(value: unknown, schema: z.ZodType): unknown {
  const shape = unwrap(schema);
  if (shape instanceof z.ZodUnion) {
    const options = shape.options as readonly z.ZodType[];
    const match = options.find((o) => {
      const inner = unwrap(o);
      return Array.isArray(value) ? inner instanceof z.ZodArray : isJsonObject(value) && inner instanceof z.ZodObject;
    });
    return match === undefined ? value : reorder(value, match);
  }
  if (shape instanceof z.ZodArray && Array.isArray(value)) {
    return value.map((item) => reorder(item, shape.element as z.ZodType));
  }
  if (shape instanceof z.ZodObject && isJsonObject(value)) {
    const fields = shape.shape as Record<string, z.ZodType>;
    // Every key the file has is kept, whatever its name: `in` and plain assignment would take
    // `toString` for present and turn `__proto__` into a prototype, silently dropping both, and
    // with them what made the file invalid.
    const out: Record<string, unknown> = {};
    const put = (key: string, member: unknown) => Object.defineProperty(out, key, { value: member, enumerable: true, writable: true, configurable: true });
    for (const [key, field] of Object.entries(fields)) {
      if (Object.hasOwn(value, key)) put(key, reorder(value[key], field));
    }
    for (const [key, member] of Object.entries(value)) {
      if (!Object.hasOwn(out, key)) put(key, member);
    }
    return out;
  }
  return value;
}

function isScalar(value: Json): boolean {
  return value === null || typeof value !== 'object';
}

/** A scalar as JSON, but -0 as `-0`: JSON.stringify writes `0`, and conditions tell them apart. */
function scalarText(value: Json): string {
  return typeof value === 'number' && Object.is(value, -0) ? '-0' : JSON.stringify(value);
}

function render(value: Json, indent: string, used: number, top: boolean): string {
  if (value === null || typeof value !== 'object') return scalarText(value);
  const entries: [string | undefined, Json][] = Array.isArray(value)
    ? value.map((item) => [undefined, item])
    : Object.entries(value);
  const [open, close] = Array.isArray(value) ? ['[', ']'] : ['{', '}'];
  if (entries.length === 0) return `${open}${close}`;
  const label = (key: string | undefined) => (key === undefined ? '' : `${JSON.stringify(key)}: `);
  if (!top && entries.every(([, member]) => isScalar(member))) {
    const members = entries.map(([key, member]) => `${label(key)}${scalarText(member)}`).join(', ');
    const inline = Array.isArray(value) ? `[${members}]` : `{ ${members} }`;
    if (used + inline.length <= formatWidth) return inline;
  }
  const inner = `${indent}  `;
  // A member's line ends in the comma before the next, which counts towards the width as well.
  const lines = entries.map(([key, member], i) => {
    const comma = i < entries.length - 1 ? 1 : 0;
    return `${inner}${label(key)}${render(member, inner, inner.length + label(key).length + comma, false)}`;
  });
  return `${open}\n${lines.join(',\n')}\n${indent}${close}`;
}

/** Which schema orders a file's keys. */
export type SourceKind = 'policy' | 'fixture';

/**
 * The canonical text of a policy or test file: keys in schema order, two-space indent,
 * an array or object of scalars on one line when it fits in 100 columns,
 * anything else one member a line, and a final newline.
 */
export function formatSource(value: unknown, kind: SourceKind): string {
  const ordered = reorder(value, kind === 'policy' ? policySchema : fixtureFileSchema) as Json;
  return `${render(ordered, '', 0, true)}\n`;
}
