import { createLocalJWKSet, errors, importJWK, type CryptoKey, type FlattenedJWSInput, type JSONWebKeySet, type JWK, type JWSHeaderParameters, type JWTVerifyGetKey } from 'jose';
import { parseSource } from '../json-source.js';
import { readRegularFile } from '../regular-file.js';
import { TokenCheckUnavailableError } from './errors.js';
import { fetchBounded, UpstreamError } from './fetch-bounded.js';

type LocalKeySet = ReturnType<typeof createLocalJWKSet>;

/** Largest key set read, from a file or a URL: hundreds of keys. */
const maxKeySetBytes = 512 * 1024;

/** The public members each key type needs to verify a signature. */
const publicMembers: Readonly<Record<string, readonly string[]>> = { RSA: ['n', 'e'], EC: ['crv', 'x', 'y'], OKP: ['crv', 'x'] };

/** Whether `key` is for signatures and has the public members its type needs. */
function isSigningKey(key: JWK): boolean {
  const needed = typeof key.kty === 'string' ? publicMembers[key.kty] : undefined;
  const entries = key as Record<string, unknown>;
  return needed !== undefined && (key.use === undefined || key.use === 'sig') && needed.every((m) => typeof entries[m] === 'string' && entries[m] !== '');
}

const curveAlgs: Readonly<Record<string, string>> = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' };

/** The algorithm to import `key` with: its own `alg`, else one its type and curve fit. */
function importAlg(key: JWK): string | undefined {
  if (typeof key.alg === 'string') return key.alg;
  if (key.kty === 'RSA') return 'RS256';
  if (key.kty === 'OKP') return 'EdDSA';
  return typeof key.crv === 'string' ? curveAlgs[key.crv] : undefined;
}

/** The least RSA modulus jose verifies a signature with: a smaller key imports, then fails every verification. */
const minimumRsaBits = 2048;

async function imports(key: JWK): Promise<boolean> {
  const alg = importAlg(key);
  if (alg === undefined) return false;
  try {
    const imported = await importJWK(key, alg);
    // A private key (its `d` given) imports as one, and jose refuses it at every verification.
    if (!('type' in imported) || imported.type !== 'public') return false;
    const modulus = 'algorithm' in imported ? (imported.algorithm as { modulusLength?: unknown }).modulusLength : undefined;
    return key.kty !== 'RSA' || (typeof modulus === 'number' && modulus >= minimumRsaBits);
  } catch {
    return false;
  }
}

/**
 * The keys of `document` a signature could be checked with: public signing keys whose material
 * imports, RSA keys of at least 2048 bits. jose imports a key only when a token names it, so a
 * key of malformed material (`"x": "AAAA"`), a private key or a 1024-bit RSA key would be found
 * at every verification, failing it with an error that asks for no new fetch, and, met first
 * among a token's candidate keys, would stop the search for one that fits. A document of no usable keys
 * (`{"keys": []}`, keys of no known type or none that imports) is a broken answer, not a
 * rotation to no keys: taken as one, it would deny every token until the next good fetch.
 */
async function usableKeys(document: unknown): Promise<JSONWebKeySet> {
  // Checks the document's shape (a `keys` array of objects) before its keys are read.
  createLocalJWKSet(document as JSONWebKeySet);
  const { keys } = document as JSONWebKeySet;
  const usable = await Promise.all(keys.map(async (key) => isSigningKey(key) && (await imports(key))));
  return { keys: keys.filter((_, index) => usable[index] === true) };
}

/** The key each algorithm verifies with, as jose picks it from a key set: its type, and its curve if one. */
const algorithmKeys: Readonly<Record<string, { readonly kty: string; readonly crv?: string }>> = {
  RS256: { kty: 'RSA' }, RS384: { kty: 'RSA' }, RS512: { kty: 'RSA' },
  PS256: { kty: 'RSA' }, PS384: { kty: 'RSA' }, PS512: { kty: 'RSA' },
  ES256: { kty: 'EC', crv: 'P-256' }, ES384: { kty: 'EC', crv: 'P-384' }, ES512: { kty: 'EC', crv: 'P-521' },
  EdDSA: { kty: 'OKP', crv: 'Ed25519' }, Ed25519: { kty: 'OKP', crv: 'Ed25519' },
};

/** Whether jose would pick `key` for a token signed with `alg`: of its type and curve, and its own `alg`, if any, that one. */
function fitsAlgorithm(key: JWK, alg: string): boolean {
  const needed = algorithmKeys[alg];
  return needed !== undefined && key.kty === needed.kty && (needed.crv === undefined || key.crv === needed.crv) && (key.alg === undefined || key.alg === alg);
}

/** Why none of `keys` verifies a token of `algorithms` (those accepted), or undefined when one does. */
function noKeyForAlgorithms(keys: readonly JWK[], algorithms: readonly string[]): string | undefined {
  if (keys.some((key) => algorithms.some((alg) => fitsAlgorithm(key, alg)))) return undefined;
  return `no key for the accepted algorithms (${algorithms.join(', ')}): RS* and PS* take an RSA key, ES256, ES384 and ES512 an EC key on P-256, P-384 and P-521, EdDSA and Ed25519 an Ed25519 key, each only if its "alg" is absent or the same`;
}

/**
 * A key set file's document, read as policy files are: refused by line and column when it is not
 * JSON, and at its path when it writes a key twice in one object (a key's second `x` or `alg`,
 * which JSON.parse would take over the first).
 */
function keySetDocument(text: string): unknown {
  const source = parseSource(text);
  if (!('value' in source)) throw new Error(source.path === '$' ? source.message : `${source.path}: ${source.message}`);
  return source.value;
}

/**
 * A key set from a local JWKS document, of its usable keys (see `usableKeys`); refused when it
 * has none, or none for any of `algorithms` (those accepted from it), so a start with it fails
 * rather than deny every token.
 */
export async function localKeySet(path: string, algorithms: readonly string[]): Promise<JWTVerifyGetKey> {
  const usable = await usableKeys(keySetDocument((await readRegularFile(path, maxKeySetBytes)).toString('utf8')));
  if (usable.keys.length === 0) throw new Error('holds no usable signing key (a public key, RSA of 2048 bits or more, EC or OKP, with the public members its type needs, "use" absent or "sig")');
  const unfit = noKeyForAlgorithms(usable.keys, algorithms);
  if (unfit !== undefined) throw new Error(`holds ${unfit}`);
  return createLocalJWKSet(usable);
}

export interface RemoteKeySetOptions {
  readonly url: string;
  /**
   * The algorithms accepted from this key set: a fetched set with no key for any of them is a
   * failed fetch (the keys held stay), as it verifies no token it will be given.
   */
  readonly algorithms?: readonly string[];
  /** Per fetch, connect to last byte. */
  readonly timeoutMs?: number;
  /** Least time between two fetches caused by unknown key ids (or by having no keys yet). */
  readonly cooldownMs?: number;
  /** Background refresh period; 0 turns it off. */
  readonly refreshMs?: number;
  readonly maxBytes?: number;
  /** Told about every failed fetch; the previous keys stay in use. */
  readonly onFetchError?: (url: string, error: Error) => void;
  /**
   * Told when a fetch leaves out a key the set held: removed, or re-issued under its kid with
   * other material. Tokens verified with it before must not be taken on that verification since.
   */
  readonly onKeyRemoved?: () => void;
}

/** What makes a key the key it is to a verification: its id, type, algorithm and public material. */
function keyIdentity(key: JWK): string {
  return JSON.stringify([key.kid, key.kty, key.alg, key.crv, key.n, key.e, key.x, key.y]);
}

/** One token's use of a key set: the key lookup jose takes, and a fetch of the set again when a signature fails under the keys held. */
export interface KeyLookup {
  readonly keys: JWTVerifyGetKey;
  /** Resolves true when other keys came; rejects with TokenCheckUnavailableError when they could not be fetched. */
  readonly refetchKeys?: () => Promise<boolean>;
}

/** Whether one token's check has had its chance at a fetch. */
interface Check {
  waited: boolean;
}

/** How fresh a remote key set is, for readiness. */
export type KeySetState = 'loaded' | 'stale' | 'missing';

/**
 * A JWKS fetched over HTTP, built for key rotation and outages.
 *
 * jose's own remote key set drops known keys once `cacheMaxAge` passes and the server is down,
 * and only counts successful fetches towards its cooldown, so a flood of unknown kids during
 * an outage refetches on every request. Here the keys are kept until a fetch replaces them,
 * a background refresh picks up rotations early, and every fetch attempt, failed or not,
 * starts the cooldown. Concurrent callers share one fetch.
 */
export class RemoteKeySet {
  readonly url: string;
  readonly #algorithms: readonly string[] | undefined;
  readonly #timeoutMs: number;
  readonly #cooldownMs: number;
  readonly #maxBytes: number;
  readonly #onFetchError: ((url: string, error: Error) => void) | undefined;
  readonly #onKeyRemoved: (() => void) | undefined;
  #local: LocalKeySet | undefined;
  /** The identities of the keys `#local` holds (see `keyIdentity`). */
  #held: ReadonlySet<string> = new Set();
  #lastAttempt = Number.NEGATIVE_INFINITY;
  #lastError: Error | undefined;
  #pending: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: RemoteKeySetOptions) {
    this.url = new URL(options.url).href;
    this.#algorithms = options.algorithms;
    this.#timeoutMs = options.timeoutMs ?? 2_000;
    this.#cooldownMs = options.cooldownMs ?? 30_000;
    this.#maxBytes = options.maxBytes ?? maxKeySetBytes;
    this.#onFetchError = options.onFetchError;
    this.#onKeyRemoved = options.onKeyRemoved;
    const refreshMs = options.refreshMs ?? 300_000;
    if (refreshMs > 0) {
      this.#timer = setInterval(() => void this.refresh(), refreshMs);
      this.#timer.unref();
    }
  }

  /** The key lookup jose's `jwtVerify` takes, each call a check of its own (see `lookup`). */
  readonly getKey: JWTVerifyGetKey = (header, token) => this.#getKey(header, token, { waited: false });

  /**
   * The key lookup and the refetch of one token's check, which between them wait on one fetch
   * at most: JWKS_TIMEOUT_MS then bounds the check, and config.ts holds it under half of
   * REQUEST_TIMEOUT_MS. Keys the check has waited for are not fetched again. The cooldown alone
   * does not see to it: shorter than a fetch (JWKS_COOLDOWN_SECONDS=0), it would let an unknown
   * kid, a signature the keys it brought fail, and a kid the next keys lack each wait on a fetch
   * of a slow key server, and the request be cut off by a 503 rather than denied.
   */
  lookup(): KeyLookup {
    const check: Check = { waited: false };
    return { keys: (header, token) => this.#getKey(header, token, check), refetchKeys: () => this.#refetch(check) };
  }

  async #getKey(header: JWSHeaderParameters, token: FlattenedJWSInput, check: Check): Promise<CryptoKey> {
    if (this.#local === undefined) await this.#waitOnce(check);
    const local = this.#local;
    if (local === undefined) {
      // Callers see this message: the URL stays out of it (the fetch warning names it, masked).
      throw new TokenCheckUnavailableError(`key set unavailable: ${this.#lastError?.message ?? 'not fetched yet'}`);
    }
    try {
      return await local(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      // An unknown kid may be a freshly rotated key: look again, at most once per cooldown.
      if (this.#local === local) await this.#waitOnce(check);
      const latest = this.#local;
      if (latest !== local && latest !== undefined) return latest(header, token);
      // The keys held are out of date while fetches fail: the key may be one the server lists
      // now. An outage, not a foreign token, to the caller and to the metrics.
      if (this.#lastError !== undefined) throw new TokenCheckUnavailableError(`key set unavailable: no key for this token among those fetched, and the last fetch failed (${this.#lastError.message})`, { cause: error });
      throw error;
    }
  }

  /**
   * Fetches the key set again unless the check has had its fetch or the last attempt was within
   * the cooldown, as for an unknown kid; resolves true when other keys are then held. For a
   * signature that failed under a key held: an issuer may re-issue a key under the same kid,
   * which the background refresh alone would pick up only after up to its period. Rejects with
   * TokenCheckUnavailableError when the keys stayed and the last fetch failed: the server may list
   * another key now, so the token cannot be told from a forged one, as with an unknown kid during
   * an outage.
   */
  async #refetch(check: Check): Promise<boolean> {
    const held = this.#local;
    await this.#waitOnce(check);
    if (this.#local !== held) return true;
    if (this.#lastError !== undefined) throw new TokenCheckUnavailableError(`key set unavailable: no key among those fetched checks this token's signature, and the last fetch failed (${this.#lastError.message})`);
    return false;
  }

  /** Fetches as `#refreshIfAllowed` does, unless the check has already had its chance to. */
  async #waitOnce(check: Check): Promise<void> {
    if (check.waited) return;
    check.waited = true;
    await this.#refreshIfAllowed();
  }

  /** Fetches the key set now; on failure the previous keys stay. Never rejects. */
  refresh(): Promise<void> {
    this.#pending ??= this.#fetch().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  /**
   * `loaded`: keys from the last fetch; `stale`: keys from an earlier fetch, the last one
   * failed; `missing`: no fetch has succeeded yet (tokens of this issuer are denied).
   */
  state(): KeySetState {
    if (this.#local === undefined) return 'missing';
    return this.#lastError === undefined ? 'loaded' : 'stale';
  }

  /** Stops the background refresh. */
  close(): void {
    clearInterval(this.#timer);
  }

  /** Joins a running fetch, or starts one unless the last attempt is within the cooldown. */
  async #refreshIfAllowed(): Promise<void> {
    if (this.#pending === undefined && performance.now() - this.#lastAttempt < this.#cooldownMs) return;
    await this.refresh();
  }

  async #fetch(): Promise<void> {
    // Time as it runs, not the wall clock: a clock stepped back an hour (NTP, a VM resuming) held
    // a rotated key off for that hour, every token it signed denied.
    this.#lastAttempt = performance.now();
    try {
      const response = await fetchBounded(
        this.url,
        { headers: { accept: 'application/jwk-set+json, application/json' } },
        { timeoutMs: this.#timeoutMs, maxBytes: this.#maxBytes },
      );
      if (response.status !== 200) throw new UpstreamError(`answered HTTP ${response.status}`);
      // A key set is security input, read as a key set file is: JSON.parse alone would keep the
      // last of a member written twice (a second "keys", a key's second "x"), where the server may
      // have meant the first. Its own text is not quoted: a path and our words are.
      const source = parseSource(response.text);
      if (!('value' in source)) throw new UpstreamError(source.path === '$' ? 'answered something that is not JSON' : `answered a key set refused at ${source.path}: ${source.message}`);
      const usable = await usableKeys(source.value);
      if (usable.keys.length === 0) throw new UpstreamError('answered a key set with no usable signing keys');
      const unfit = this.#algorithms === undefined ? undefined : noKeyForAlgorithms(usable.keys, this.#algorithms);
      if (unfit !== undefined) throw new UpstreamError(`answered a key set with ${unfit}`);
      const held = new Set(usable.keys.map(keyIdentity));
      const removed = [...this.#held].some((key) => !held.has(key));
      this.#local = createLocalJWKSet(usable);
      this.#held = held;
      this.#lastError = undefined;
      if (removed) this.#onKeyRemoved?.();
    } catch (error) {
      // Anything but our own UpstreamError came from reading the document: its text is not ours to pass on.
      const failure = error instanceof UpstreamError ? error : new UpstreamError('answered something that is not a JWKS', { cause: error });
      this.#lastError = failure;
      this.#onFetchError?.(this.url, failure);
    }
  }
}
