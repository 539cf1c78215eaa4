import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Verdict } from '../decision/types.js';
import { jsonObjectSchema } from '../json-object.js';
import { adviceFits, maxAdviceJsonLength } from '../policy/schema.js';
import type { CacheEntry } from './layer.js';

/**
 * Most bytes of an entry value in Redis, read or written; a longer value is invalid and is not
 * even read whole (`GETRANGE`). A real entry is the key (prefix of at most 128 characters + 43),
 * the expiry and the verdict: each reason names a policy and a rule (identifiers of at most
 * 128 ASCII characters, ~300 bytes with the JSON around them) or carries a code with a detail
 * (action and resource type, at most 256 characters each); each advice names its rule and
 * carries at most maxAdviceJsonLength. 64 KiB holds some 200 deciding rules, or a dozen
 * with the longest advice, far beyond the few rules that decide in practice; it crosses a
 * loopback in well under a millisecond, so a read stays within the 20 ms command deadline
 * and an answer served from Redis is never larger than that. A verdict that does not fit
 * (many deciding rules with long advice) is answered as usual and not shared.
 */
export const MAX_ENTRY_BYTES = 64 * 1024;

/** Most reasons, and most advice, an entry carries. */
const maxItems = 256;

const text = z.string().max(4096);

const reason = z.union([
  z.strictObject({ policy: text, rule: text, effect: z.enum(['permit', 'deny']) }),
  z.strictObject({
    // invalid_token, condition_error, limit_exceeded and entity_case_mismatch are never cached, so they never come back either.
    code: z.enum(['no_applicable_rule', 'unknown_resource_type', 'action_case_mismatch']),
    detail: text,
    policy: text.optional(),
    rule: text.optional(),
  }),
]);

const verdict = z.strictObject({
  decision: z.enum(['permit', 'deny']),
  reasons: z.array(reason).min(1).max(maxItems),
  advice: z
    .array(
      z.strictObject({
        policy: text,
        rule: text,
        advice: jsonObjectSchema.refine(adviceFits, `advice over ${maxAdviceJsonLength} characters of JSON`),
      }),
    )
    .max(maxItems),
});

const stored = z.strictObject({ k: z.string(), e: z.number().int().positive(), d: verdict });

/** True when evaluation could have produced the verdict: a permit names permitting rules only, a deny none. */
function coherent(v: Verdict): boolean {
  const effects = v.reasons.flatMap((r) => ('effect' in r ? [r.effect] : []));
  return v.decision === 'permit' ? effects.length > 0 && effects.every((e) => e === 'permit') : !effects.includes('permit');
}

/** Characters of a signature (an HMAC-SHA256 in base64url) and the `.` after it. */
const signatureLength = 44;

function signature(secret: string, json: string): string {
  return createHmac('sha256', secret).update(json).digest('base64url');
}

/**
 * `json` when `raw` is `<signature>.<json>` signed with `secret`, compared in constant time;
 * undefined for anything else (unsigned, another secret, altered).
 */
function verified(raw: string, secret: string): string | undefined {
  if (raw.length <= signatureLength || raw.charCodeAt(signatureLength - 1) !== 0x2e) return undefined;
  const json = raw.slice(signatureLength);
  const given = Buffer.from(raw.slice(0, signatureLength - 1));
  const expected = Buffer.from(signature(secret, json));
  return given.length === expected.length && timingSafeEqual(given, expected) ? json : undefined;
}

/**
 * Serialises an entry for a shared store, bound to its key so it cannot be served under another,
 * and with `secret` (CACHE_SIGNING_SECRET) signed as `<HMAC-SHA256>.<json>`, so whoever can write
 * to Redis but does not hold the secret cannot make one; undefined when it is beyond what
 * `decodeEntry` takes (more than MAX_ENTRY_BYTES, too many reasons or advice): such a verdict is
 * not shared, so whatever this service writes it can read back.
 */
export function encodeEntry(key: string, entry: CacheEntry, secret?: string): string | undefined {
  const { reasons, advice } = entry.verdict;
  // Advice is within maxAdviceJsonLength: policies cannot carry longer (policy/schema.ts).
  if (reasons.length > maxItems || advice.length > maxItems) return undefined;
  const json = JSON.stringify({ k: key, e: entry.expiresAt, d: entry.verdict });
  const value = secret === undefined ? json : `${signature(secret, json)}.${json}`;
  // Bytes as UTF-8 are at most 3 per UTF-16 code unit: count them only when it could matter.
  return value.length * 3 <= MAX_ENTRY_BYTES || Buffer.byteLength(value, 'utf8') <= MAX_ENTRY_BYTES ? value : undefined;
}

/**
 * How far another replica's clock may run ahead of this one's: an entry it wrote may expire that
 * much later than `maxTtlMs` from now.
 */
const clockSkewMs = 1000;

/**
 * Reads what a shared store returned. Anything that is not a well-formed, coherent entry for
 * this very key is rejected with `'invalid'`, and with `secret`, anything not signed with it; so
 * is an entry set to expire more than `maxTtlMs` (plus `clockSkewMs`) from `now`, which no
 * replica wrote: served, it would outlive every TTL, and be copied into the memory layers. A
 * well-formed entry past its expiry is `undefined`. `raw` longer than MAX_ENTRY_BYTES is
 * invalid, unparsed.
 */
export function decodeEntry(key: string, raw: Buffer, now: number, maxTtlMs: number, secret?: string): CacheEntry | 'invalid' | undefined {
  if (raw.length > MAX_ENTRY_BYTES) return 'invalid';
  const text = raw.toString('utf8');
  const signed = secret === undefined ? text : verified(text, secret);
  if (signed === undefined) return 'invalid';
  let json: unknown;
  try {
    json = JSON.parse(signed);
  } catch {
    return 'invalid';
  }
  const parsed = stored.safeParse(json);
  if (!parsed.success || parsed.data.k !== key || !coherent(parsed.data.d) || parsed.data.e > now + maxTtlMs + clockSkewMs) return 'invalid';
  if (parsed.data.e <= now) return undefined;
  return { verdict: parsed.data.d, expiresAt: parsed.data.e };
}
