import { z } from 'zod';
import { notWildcard, seenCharacter, wildcardActionMessage } from './policy/schema.js';
import { requestLimits } from './request-limits.js';

/**
 * A name or id a request states, of 1 to `max` characters, not only whitespace, control or
 * invisible ones: one made only of those can be neither seen nor typed, and is refused saying
 * `why` it names nothing. An empty one is told once, as too small.
 */
function statedName(max: number, why: string) {
  return z.string().min(1, { abort: true }).max(max).regex(seenCharacter, `not only whitespace, control or invisible characters: ${why}`);
}

/**
 * A subject id a request states (`/decide`'s `subject`, an AuthZEN subject, a test case's or
 * `pdp check`'s subject). A token whose subject claim is such an id is denied as naming no
 * subject: stated by a caller, it would be decided on, rules comparing `subject.id` reading a
 * blank no one could be told apart by, and no entity data holds it.
 */
export const subjectIdSchema = statedName(requestLimits.maxId, 'such an id names no one, as a token whose subject claim holds one names no subject');

/** A resource id a request states: entity data holds no blank id, and rules comparing `resource.id` would read a blank naming no record. */
export const resourceIdSchema = statedName(requestLimits.maxId, 'such an id names no resource, and no entity data holds one');

/** A subject or resource type a request states: no policy governs a blank type, nor does entity data hold one. */
export const typeNameSchema = statedName(requestLimits.maxName, 'such a type names nothing, and no policy or entity data has one');

/**
 * An action a request names: one, never `*` (see `wildcardAction`), nor a blank no rule names,
 * which only a rule for any action would match.
 */
export const actionNameSchema = statedName(requestLimits.maxName, 'such an action names nothing, and no rule names one').regex(notWildcard, wildcardActionMessage);
