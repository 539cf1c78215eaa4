import { isJsonObject } from '../json-object.js';
import { holdsSeenCharacter, wildcardAction } from '../policy/schema.js';
import { requestLimits } from '../request-limits.js';

/**
 * Checks for request bodies that skip their zod parse (decide-body.ts, authzen/wire.ts): each
 * recognises only JSON its schema takes unchanged, and leaves anything else to zod.
 */

export const isObject = isJsonObject;

/**
 * A string of `min` to `max` UTF-16 code units. zod's `.min()` and `.max()` count code points,
 * never more than the units: with `min` at most 1, a string within these bounds is within
 * zod's, and one beyond them is left to zod's parse, which decides.
 */
export const isText = (value: unknown, min: number, max: number): value is string =>
  typeof value === 'string' && value.length >= min && value.length <= max;

/** A name or id as `request-names.ts` takes it: 1 to `max` characters, not all of them blank. */
export const isStatedName = (value: unknown, max: number): value is string => isText(value, 1, max) && holdsSeenCharacter(value);

export const isOptionalName = (value: unknown, max: number): boolean => value === undefined || isStatedName(value, max);

/** An action name as the schemas take it: 1 to 256 characters, not all of them blank, not `*`. */
export const isActionName = (value: unknown): value is string => isStatedName(value, requestLimits.maxName) && value !== wildcardAction;

/** Properties or a context, absent or any object, as `jsonObjectSchema` takes and returns it. */
export const isOptionalObject = (value: unknown): boolean => value === undefined || isObject(value);
