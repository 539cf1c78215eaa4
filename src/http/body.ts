import type { Context } from 'hono';
import type { z } from 'zod';
import { duplicateKeyIn } from '../duplicate-keys.js';
import { findInexactNumber, notExactly } from '../inexact-numbers.js';
import { findDepthViolation, findLimitViolation, mayBreakSizeLimits, mayHoldInexactNumber, type JsonLimitViolation } from '../json-limits.js';
import { notJson } from '../json-syntax.js';
import { jsonPath } from '../policy/json-path.js';
import type { AppEnv } from './env.js';
import { isJsonUtf8 } from './media-type.js';
import { fieldErrors, ProblemError } from './problem.js';
import { unfinishedBody } from './unfinished-body.js';

function limitProblem(violation: JsonLimitViolation): ProblemError {
  const path = jsonPath(violation.path);
  return new ProblemError('limit_exceeded', `${path}: ${violation.message}`, [{ path, message: violation.message }]);
}

/**
 * Reads a JSON body and validates it: 415 for another media type or charset (see isJsonUtf8),
 * 400 for a body the client did not finish sending, for malformed JSON, for a key written twice
 * in one object, for a body beyond the JSON limits (depth, array and object sizes, string
 * lengths, numbers a double does not hold exactly, `1e400` or `9007199254740993`; checked before
 * the schema, so no later step walks unbounded data or a rounded number) or a schema failure,
 * each with the failing field's path.
 * Size is limited by middleware. `plain`, when given, recognises bodies the schema would accept
 * unchanged, so they skip its parse (a copy of every object).
 */
export async function jsonBody<S extends z.ZodType>(c: Context<AppEnv>, schema: S, plain?: (raw: unknown) => raw is z.infer<S>): Promise<z.infer<S>> {
  // JSON is UTF-8 (RFC 8259 §8.1): a body declared in another charset is not read as if it were.
  if (!isJsonUtf8(c.req.header('content-type') ?? '')) {
    // The body is left unread: close the connection (once the rest is dropped, see linger.ts)
    // rather than reuse it behind an unread body.
    throw new ProblemError('unsupported_media_type', 'send the body as application/json in UTF-8', [{ path: 'Content-Type', message: 'application/json (or an application/…+json type), in UTF-8' }], { connection: 'close' });
  }
  // A coded body (gzip, say) is not JSON until decoded, which this service does not do: read as
  // it is, it would fail as malformed JSON, or worse pass as JSON it is not (RFC 9110 §8.4).
  const coding = (c.req.header('content-encoding') ?? '').trim().toLowerCase();
  if (coding !== '' && coding !== 'identity') {
    throw new ProblemError('unsupported_media_type', 'send the body without a content coding: this service reads no Content-Encoding', [{ path: 'Content-Encoding', message: 'identity or none; gzip, deflate and br are not read' }], { connection: 'close', 'accept-encoding': 'identity' });
  }
  // Bytes that are not UTF-8 are read as U+FFFD, as Go's encoding/json (and so OPA) reads
  // them: checking them needs the body as bytes, a copy that cost 3-7% of a request.
  let text: string;
  try {
    text = await c.req.text();
  } catch (error) {
    throw unfinishedBody(c, error);
  }
  const tooDeep = findDepthViolation(text);
  if (tooDeep !== undefined) throw limitProblem(tooDeep);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    // A POST without Content-Length or Transfer-Encoding has an empty body (RFC 9112 §6.3).
    if (/^[ \t\n\r]*$/.test(text)) throw new ProblemError('malformed_json', 'body is empty: send the request as a JSON object', [{ path: '$', message: 'empty, not a JSON object' }]);
    // JSON.parse's message quotes the text around some errors, line breaks and all, and places none.
    throw new ProblemError('malformed_json', `body is ${notJson(text)}`, [{ path: '$', message: 'not valid JSON' }]);
  }
  // JSON.parse keeps the last of a key written twice, where a parser that keeps the first (or
  // refuses) reads another request: the body a caller checked may not be the one decided on.
  // `pdp check` and policy files refuse them too.
  const duplicate = duplicateKeyIn(text, raw);
  if (duplicate !== undefined) {
    const path = jsonPath(duplicate);
    throw new ProblemError('invalid_request', `${path}: duplicate key: send each key once in an object`, [{ path, message: 'duplicate key' }]);
  }
  // Depth was checked on the text; the rest needs a walk only when the text is long enough to
  // break a size limit or holds a number that may not be exactly a double.
  const oddNumbers = mayHoldInexactNumber(text);
  const overLimit = mayBreakSizeLimits(text.length) || oddNumbers ? findLimitViolation(raw) : undefined;
  if (overLimit !== undefined) throw limitProblem(overLimit);
  // JSON.parse rounds such a number without a word: two different ids would compare equal.
  const inexact = oddNumbers ? findInexactNumber(text) : undefined;
  if (inexact !== undefined) throw limitProblem({ path: inexact.path, message: `${notExactly(inexact)}: send it as a string` });
  return plain?.(raw) === true ? raw : validBody(schema, raw);
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
