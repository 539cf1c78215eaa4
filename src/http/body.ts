import type { Context } from 'hono';
import type { z } from 'zod';
import type { AppEnv } from './env.js';
import { fieldErrors, ProblemError } from './problem.js';

const jsonType = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * Reads a JSON body and validates it: 415 for another media type, 400 for malformed JSON
 * or a schema failure (with each failing field's path). Size is limited by middleware.
 */
export async function jsonBody<S extends z.ZodType>(c: Context<AppEnv>, schema: S): Promise<z.infer<S>> {
  const type = c.req.header('content-type') ?? '';
  if (!jsonType.test(type)) {
    throw new ProblemError('unsupported_media_type', 'send the body as application/json');
  }
  const text = await c.req.text();
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ProblemError('malformed_json', `body is not valid JSON: ${(error as Error).message}`, [{ path: '$', message: 'not valid JSON' }]);
  }
  return validBody(schema, raw);
}

/** Validates an already parsed body: 400 with each failing field's path. */
export function validBody<S extends z.ZodType>(schema: S, raw: unknown): z.infer<S> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const errors = fieldErrors(parsed.error);
    const first = errors[0];
    throw new ProblemError('invalid_request', first === undefined ? 'invalid body' : `${first.path}: ${first.message}`, errors);
  }
  return parsed.data;
}
