import { z } from 'zod';
import { jsonObjectSchema } from '../json-object.js';
import { isActionName, isObject, isOptionalName, isOptionalObject, isStatedName, isText } from './plain-json.js';
import { requestLimits } from '../request-limits.js';
import { actionNameSchema, resourceIdSchema, subjectIdSchema, typeNameSchema } from '../request-names.js';

const { maxName, maxId } = requestLimits;

/** The body of `POST /decide`; its failures are the 400 answers, with each field's path. */
export const decideBody = z
  .object({
    // No length cap here: an oversized token is an invalid token, answered with a deny.
    token: z.string().min(1).optional(),
    subject: z
      .object({
        type: typeNameSchema.optional(),
        id: subjectIdSchema,
        properties: jsonObjectSchema.optional(),
      })
      .optional(),
    action: actionNameSchema,
    resource: z.object({
      type: typeNameSchema,
      id: resourceIdSchema.optional(),
      properties: jsonObjectSchema.optional(),
    }),
    context: jsonObjectSchema.optional(),
  })
  .check((ctx) => {
    const { token, subject } = ctx.value;
    if ((token === undefined) === (subject === undefined)) {
      ctx.issues.push({
        code: 'custom',
        path: [token === undefined ? 'token' : 'subject'],
        message: 'give exactly one of "token" or "subject"',
        input: ctx.value,
      });
    }
  });

export type DecideBody = z.infer<typeof decideBody>;

/**
 * Whether `raw` is a body `decideBody` accepts and would return with the same members, checked
 * by hand: parsing with zod copies every object of the body and cost ~8% of a `/decide`
 * request in process. False for anything else, valid or not, which then goes to zod for its
 * verdict and the paths of its failures; so this check may refuse more than zod, never less.
 */
export function isPlainDecideBody(raw: unknown): raw is DecideBody {
  if (!isObject(raw)) return false;
  const { token, subject, resource } = raw;
  if (!isActionName(raw['action']) || !isOptionalObject(raw['context'])) return false;
  if (!isObject(resource) || !isStatedName(resource['type'], maxName) || !isOptionalName(resource['id'], maxId) || !isOptionalObject(resource['properties'])) return false;
  if (subject === undefined) return isText(token, 1, Number.MAX_SAFE_INTEGER);
  return token === undefined && isObject(subject) && isStatedName(subject['id'], maxId) && isOptionalName(subject['type'], maxName) && isOptionalObject(subject['properties']);
}
