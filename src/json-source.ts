import { duplicateKeyIn } from './duplicate-keys.js';
import { findInexactNumber, notExactly } from './inexact-numbers.js';
import { findDepthViolation, findLimitViolation, jsonLimits, mayHoldInexactNumber, type JsonLimits } from './json-limits.js';
import { notJson } from './json-syntax.js';
import { jsonPath } from './policy/json-path.js';

/** A source's value, or where and why it is refused. */
export type ParsedSource = { readonly value: unknown } | { readonly path: string; readonly message: string };

/** Bounds on source files: only what keeps every later step safe (no collection or string bound). */
export const sourceLimits: JsonLimits = { maxDepth: jsonLimits.maxDepth, maxCollection: Infinity, maxString: Infinity };

/**
 * Parses JSON text a person wrote (a policy, entity or test file, a token configuration or key
 * set file, a request given to the CLI): nesting beyond 64 levels (which would
 * overflow the stack of every recursive step after it), a key written twice in one object
 * (JSON.parse would keep the last without a word, and `pdp fmt` drop the first), numbers
 * beyond a double (which JSON.parse reads as infinities and JSON writes back as null) and numbers
 * a double does not hold exactly (which it rounds: an id `9007199254740993` would equal
 * `9007199254740992`) are refused with their path, like malformed JSON. `limits` tightens the
 * bounds for text that stands for a request (`pdp check`).
 */
export function parseSource(text: string, limits: JsonLimits = sourceLimits): ParsedSource {
  const tooDeep = findDepthViolation(text, limits.maxDepth);
  if (tooDeep !== undefined) return { path: jsonPath(tooDeep.path), message: tooDeep.message };
  return parseWithinDepth(text, limits);
}

/** `parseSource` of text already known to nest no deeper than `limits.maxDepth`. */
export function parseWithinDepth(text: string, limits: JsonLimits = sourceLimits): ParsedSource {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { path: '$', message: notJson(text) };
  }
  const duplicate = duplicateKeyIn(text, value);
  if (duplicate !== undefined) return { path: jsonPath(duplicate), message: 'duplicate key' };
  const overLimit = findLimitViolation(value, limits);
  if (overLimit !== undefined) return { path: jsonPath(overLimit.path), message: overLimit.message };
  const inexact = mayHoldInexactNumber(text) ? findInexactNumber(text) : undefined;
  if (inexact !== undefined) return { path: jsonPath(inexact.path), message: `${notExactly(inexact)}: write that, or the value as a string` };
  return { value };
}

