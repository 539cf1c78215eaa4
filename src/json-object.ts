import { z } from 'zod';

export type JsonObject = Record<string, unknown>;

export const isJsonObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Any JSON object, a free-form map (a rule's advice, an entity's properties, a request's
 * context), returned as it came with every member, whatever its name. zod's records and loose
 * objects copy an object member by member and leave `__proto__` out (assigned, it would set the
 * copy's prototype), where JSON.parse keeps it as a member: such a member was lost without a
 * word. Nothing is copied, a large map included. Its JSON Schema is a record's.
 */
export const jsonObjectSchema = z
  .unknown()
  .check((ctx) => {
    if (!isJsonObject(ctx.value)) ctx.issues.push({ code: 'invalid_type', expected: 'object', input: ctx.value });
  })
  .meta({ type: 'object', propertyNames: { type: 'string' }, additionalProperties: {} }) as z.ZodType<JsonObject>;
