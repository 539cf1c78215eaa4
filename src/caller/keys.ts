import { createHash, hash, timingSafeEqual } from 'node:crypto';

/** Who is calling the PDP: a short, non-secret fingerprint of their key, and whether they may send pre-verified subjects. */
export interface Caller {
  readonly id: string;
  readonly trusted: boolean;
}

/** The shortest plain key accepted: shorter keys can be guessed. */
export const minimumKeyLength = 16;

/** The longest plain key accepted: the longest bearer credential a request may send. */
export const maximumKeyLength = 512;

const hashed = /^sha256:([0-9a-f]{64})$/i;

/**
 * What a plain key may hold: printable ASCII but the space, which would end the bearer
 * credential, and the comma, which separates the keys of a list.
 */
export const keyCharacters = /^[\x21-\x2b\x2d-\x7e]+$/;

function sha256(text: string): Buffer {
  // One-shot digest: a Hash object per request cost twice as much.
  return hash('sha256', text, 'buffer');
}

/** Why a configured key entry is unusable, or undefined when it is fine. Never echoes the key. */
export function keyEntryProblem(entry: string): string | undefined {
  if (entry.toLowerCase().startsWith('sha256:')) return hashed.test(entry) ? undefined : 'sha256: must be followed by 64 hex digits';
  if (entry.length < minimumKeyLength) return `a key must be at least ${minimumKeyLength} characters`;
  if (entry.length > maximumKeyLength) return `a key must be at most ${maximumKeyLength} characters`;
  if (!keyCharacters.test(entry)) return 'a key must be printable ASCII without spaces or commas';
  return undefined;
}

/**
 * A set of caller keys, each given as the key itself or as `sha256:<hex>` of it, so a
 * deployment's configuration need not hold the secrets. Only SHA-256 digests are kept.
 */
export class KeyRing {
  readonly #digests: readonly Buffer[];
  readonly #ids: readonly string[];

  /** Throws on an entry `keyEntryProblem` rejects; config validation reports those first. */
  constructor(entries: readonly string[]) {
    const digests = entries.map((entry) => {
      const problem = keyEntryProblem(entry);
      if (problem !== undefined) throw new TypeError(`invalid caller key: ${problem}`);
      const match = hashed.exec(entry);
      return match?.[1] !== undefined ? Buffer.from(match[1], 'hex') : sha256(entry);
    });
    this.#digests = digests;
    this.#ids = digests.map(fingerprint);
  }

  get size(): number {
    return this.#digests.length;
  }

  /**
   * The fingerprint of the matching key, or undefined. Compares the presented key's digest
   * with every configured digest in constant time, without stopping at a match.
   */
  match(presented: string): string | undefined {
    const digest = sha256(presented);
    let found: string | undefined;
    this.#digests.forEach((candidate, index) => {
      if (timingSafeEqual(candidate, digest)) found = this.#ids[index];
    });
    return found;
  }
}

/**
 * A caller id derived from a key digest: stable and short. It is unsalted, so whoever reads the
 * logs can test a guessed key against it offline; only a random key (README, Caller keys)
 * keeps that from succeeding.
 */
function fingerprint(digest: Buffer): string {
  return `key-${createHash('sha256').update('invoice-pdp caller').update(digest).digest('hex').slice(0, 12)}`;
}

/** Every key the PDP knows, by what it may do. */
export interface CallerKeys {
  /** May ask for decisions. */
  readonly api: KeyRing;
  /** May ask for decisions and send pre-verified subject claims. */
  readonly trusted: KeyRing;
  /** May use `/admin/*`. */
  readonly admin: KeyRing;
}

/** Builds the key rings from configured entries. */
export function callerKeys(entries: { api: readonly string[]; trusted: readonly string[]; admin: readonly string[] }): CallerKeys {
  return { api: new KeyRing(entries.api), trusted: new KeyRing(entries.trusted), admin: new KeyRing(entries.admin) };
}

/**
 * The caller a decision-endpoint key belongs to, or undefined for an unknown key. A trusted key
 * needs no separate entry in the API keys.
 */
export function identifyCaller(keys: CallerKeys, presented: string): Caller | undefined {
  // Both rings are always searched, so timing does not tell a trusted key from another.
  const trusted = keys.trusted.match(presented);
  const api = keys.api.match(presented);
  if (trusted !== undefined) return { id: trusted, trusted: true };
  return api === undefined ? undefined : { id: api, trusted: false };
}
