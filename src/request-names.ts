import { notWildcard, seenNameSchema, wildcardActionMessage } from './policy/schema.js';
import { requestLimits } from './request-limits.js';

/**
 * A subject id a request states (`/decide`'s `subject`, an AuthZEN subject, a test case's or
 * `pdp check`'s subject). A token whose subject claim is such an id is denied as naming no
 * subject: stated by a caller, it would be decided on, rules comparing `subject.id` reading a
 * blank no one could be told apart by, and no entity data holds it.
 */
export const subjectIdSchema = seenNameSchema('such an id names no one, as a token whose subject claim holds one names no subject', requestLimits.maxId);

/** A resource id a request states: entity data holds no blank id, and rules comparing `resource.id` would read a blank naming no record. */
export const resourceIdSchema = seenNameSchema('such an id names no resource, and no entity data holds one', requestLimits.maxId);

/** A subject or resource type a request states: no policy governs a blank type, nor does entity data hold one. */
export const typeNameSchema = seenNameSchema('such a type names nothing, and no policy or entity data has one', requestLimits.maxName);

/**
 * An action a request names: one, never `*` (see `wildcardAction`), nor a blank no rule names,
 * which only a rule for any action would match.
 */
export const actionNameSchema = seenNameSchema('such an action names nothing, and no rule names one', requestLimits.maxName).regex(notWildcard, wildcardActionMessage);
