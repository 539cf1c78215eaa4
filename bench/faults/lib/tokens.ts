import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { invoiceSubject } from '../../../test/oracle/arbitraries.js';
import type { TokenPair, TokenSet, TokenSubject } from './load-protocol.js';

/** `count` subjects from the generator the load's request bodies use, repeatable by `seed`. */
export function tokenSubjects(seed: number, count: number): TokenSubject[] {
  // Through JSON, as a token carries them.
  return fc.sample(invoiceSubject, { seed, numRuns: count }).map((subject) => JSON.parse(JSON.stringify(subject)) as TokenSubject);
}

/** The claims a token minted for `subject` carries: `sub` and the subject's properties. */
export function claimsOf(subject: TokenSubject): Record<string, unknown> {
  return { ...subject.properties, sub: subject.id };
}

/**
 * Mints one token per subject with `mint` and writes the pairs to a file in `dir`: `set` is
 * what LoadConfig.tokens takes, `pairs` what the harness may send itself.
 */
export async function writeTokenSet(
  dir: string,
  options: Omit<TokenSet, 'file'>,
  subjects: readonly TokenSubject[],
  mint: (subject: TokenSubject) => string | Promise<string>,
): Promise<{ readonly set: TokenSet; readonly pairs: readonly TokenPair[] }> {
  const pairs = await Promise.all(subjects.map(async (subject) => ({ token: await mint(subject), subject })));
  const file = join(dir, `${options.kind.replace(/[^a-z0-9]+/gi, '-')}.json`);
  await writeFile(file, JSON.stringify(pairs));
  return { set: { ...options, file }, pairs };
}

/** POST /decide with `token` (reading an invoice); the answer's reason codes, `HTTP <status>` for a problem, or `no answer`. */
export async function decideWithToken(port: number, token: string): Promise<string[]> {
  const body = JSON.stringify({ token, action: 'read', resource: { type: 'invoice', id: 'inv-1' } });
  try {
    const res = await fetch(`http://127.0.0.1:${port}/decide`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const answer = (await res.json()) as { reasons?: { code?: string; rule?: string }[] };
    // A problem (a 503 past the request deadline, say) decided nothing: it has no reasons to read.
    if (res.status !== 200) return [`HTTP ${res.status}`];
    return (answer.reasons ?? []).map((r) => r.code ?? r.rule ?? 'rule');
  } catch {
    return ['no answer'];
  }
}
