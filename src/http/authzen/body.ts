import type { Context } from 'hono';
import type { z } from 'zod';
import { jsonBody } from '../body.js';
import type { AppEnv } from '../env.js';
import { ProblemError } from '../problem.js';

/**
 * An AuthZEN request body, read as `jsonBody` reads any. AuthZEN's error table has no 415: a
 * body not sent as JSON is a 400 there (certification c-2-4-3), at the path of the header that
 * refused it (`Content-Type`, `Content-Encoding`) as `/decide`'s 415 names it; the connection
 * still closes. `/decide` keeps its 415.
 */
export async function authzenBody<S extends z.ZodType>(c: Context<AppEnv>, schema: S, plain?: (raw: unknown) => raw is z.infer<S>): Promise<z.infer<S>> {
  try {
    return await jsonBody(c, schema, plain);
  } catch (error) {
    if (!(error instanceof ProblemError) || error.code !== 'unsupported_media_type') throw error;
    throw new ProblemError('invalid_request', error.detail, error.errors, error.headers);
  }
}
