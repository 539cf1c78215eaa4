import { z } from 'zod';
import { seenCharacter } from './policy/schema.js';
import { requestLimits } from './request-limits.js';

/**
 * A subject id a request states (`/decide`'s `subject`, an AuthZEN subject, a test case's or
 * `pdp check`'s subject): 1 to `maxId` characters, not only whitespace, control or invisible
 * ones. A token whose subject claim is such an id is denied as naming no subject: stated by a
 * caller, it would be decided on, rules comparing `subject.id` reading a blank no one could be
 * told apart by, and no entity data holds it. An empty id is told once, as too small.
 */
export const subjectIdSchema = z
  .string()
  .min(1, { abort: true })
  .max(requestLimits.maxId)
  .regex(seenCharacter, 'not only whitespace, control or invisible characters: such an id names no one, as a token whose subject claim holds one names no subject');
