import { z } from 'zod';
import type { Verdict } from '../decision/types.js';
import type { CacheEntry } from './layer.js';

const text = z.string().max(4096);

const reason = z.union([
  z.strictObject({ policy: text, rule: text, effect: z.enum(['permit', 'deny']) }),
  z.strictObject({
    // invalid_token and condition_error are never cached, so they never come back either.
    code: z.enum(['no_applicable_rule', 'unknown_resource_type']),
    detail: text,
    policy: text.optional(),
    rule: text.optional(),
  }),
]);

const verdict = z.strictObject({
  decision: z.enum(['permit', 'deny']),
  reasons: z.array(reason).min(1).max(256),
  advice: z.array(z.strictObject({ policy: text, rule: text, advice: z.record(z.string(), z.unknown()) })).max(256),
});

const stored = z.strictObject({ k: z.string(), e: z.number().int().positive(), d: verdict });

/** True when evaluation could have produced the verdict: a permit names permitting rules only, a deny none. */
function coherent(v: Verdict): boolean {
  const effects = v.reasons.flatMap((r) => ('effect' in r ? [r.effect] : []));
  return v.decision === 'permit' ? effects.length > 0 && effects.every((e) => e === 'permit') : !effects.includes('permit');
}

/** Serialises an entry for a shared store, bound to its key so it cannot be served under another. */
export function encodeEntry(key: string, entry: CacheEntry): string {
  return JSON.stringify({ k: key, e: entry.expiresAt, d: entry.verdict });
}

/**
 * Reads what a shared store returned. Anything that is not a well-formed, coherent entry for
 * this very key is rejected with `'invalid'`; a well-formed entry past its expiry is `undefined`.
 */
export function decodeEntry(key: string, raw: string, now: number): CacheEntry | 'invalid' | undefined {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return 'invalid';
  }
  const parsed = stored.safeParse(json);
  if (!parsed.success || parsed.data.k !== key || !coherent(parsed.data.d)) return 'invalid';
  if (parsed.data.e <= now) return undefined;
  return { verdict: parsed.data.d, expiresAt: parsed.data.e };
}
