import { z } from 'zod';
import { jsonObjectSchema } from '../json-object.js';
import { isActionName, isObject, isOptionalObject, isOptionalText, isSubjectId, isText } from './plain-json.js';
import { wildcardAction, wildcardActionMessage } from '../policy/schema.js';
import { requestLimits } from '../request-limits.js';
import { subjectIdSchema } from '../subject-id.js';

const { maxName, maxId } = requestLimits;

/** The body of `POST /decide`; its failures are the 400 answers, with each field's path. */
export const decideBody = z
  .object({
    // No length cap here: an oversized token is an invalid token, answered with a deny.
    token: z.string().min(1).optional(),
    subject: z
      .object({
        type: z.string().min(1).max(maxName).optional(),
        id: subjectIdSchema,
        properties: jsonObjectSchema.optional(),
      })
      .optional(),
    action: z.string().min(1).max(maxName).refine((name) => name !== wildcardAction, wildcardActionMessage),
    resource: z.object({
      type: z.string().min(1).max(maxName),
      id: z.string().max(maxId).optional(),
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
  if (!isObject(resource) || !isText(resource['type'], 1, maxName) || !isOptionalText(resource['id'], 0, maxId) || !isOptionalObject(resource['properties'])) return false;
  if (subject === undefined) return isText(token, 1, Number.MAX_SAFE_INTEGER);
  return token === undefined && isObject(subject) && isSubjectId(subject['id']) && isOptionalText(subject['type'], 1, maxName) && isOptionalObject(subject['properties']);
}
