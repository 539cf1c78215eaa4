import { createLocalJWKSet, errors, type CryptoKey, type FlattenedJWSInput, type JWK, type JWSHeaderParameters, type JWTVerifyGetKey } from 'jose';
import { parseSource } from '../json-source.js';
import { readRegularFile } from '../regular-file.js';
import { TokenCheckUnavailableError } from './errors.js';
import { UpstreamError } from './fetch-bounded.js';
import { KeySetFetcher, type KeySetFetch, type KeySetFetcherOptions } from './key-set-fetcher.js';
import { maxKeySetBytes, noKeyForAlgorithms, usableKeys } from './usable-keys.js';

type LocalKeySet = ReturnType<typeof createLocalJWKSet>;

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
  if (usable.keys.length === 0) throw new Error('holds no usable signing key (a public key, RSA of 2048 bits or more, EC or OKP, with the public members its type needs, "use" absent or "sig", "key_ops" absent or holding "verify")');
  const unfit = noKeyForAlgorithms(usable.keys, algorithms);
  if (unfit !== undefined) throw new Error(`holds ${unfit}`);
  return createLocalJWKSet(usable);
}

/** What one issuer takes from a key set, whoever fetches it. */
interface KeySetUse {
  /**
   * The algorithms accepted from this key set. A fetched set with no usable key, or none for
   * any of them, is the key server's answer all the same: the keys held before are dropped, as
   * keys it no longer lists, and `onUnfit` is told; this issuer's tokens are denied until a set
   * with one comes.
   */
  readonly algorithms?: readonly string[];
  /** Told of each fetched set with no usable key, or none for `algorithms`. */
  readonly onUnfit?: (url: string, error: Error) => void;
  /**
   * Told when a fetch leaves out a key the set held: removed, or re-issued under its kid with
   * other material. Tokens verified with it before must not be taken on that verification since.
   */
  readonly onKeyRemoved?: () => void;
}

/**
 * A key set of its own fetches (`url` and its timings, `onFetchError` told of the failed ones),
 * or taking those of a `fetcher` the issuers naming the same URL share.
 */
export type RemoteKeySetOptions = KeySetUse & (KeySetFetcherOptions | { readonly fetcher: KeySetFetcher });

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
 * One issuer's view of a JWKS fetched over HTTP, built for key rotation and outages.
 *
 * jose's own remote key set drops known keys once `cacheMaxAge` passes and the server is down.
 * Here the keys are kept until a fetch replaces them, and a background refresh picks up
 * rotations early (see KeySetFetcher, which also bounds the fetches).
 */
export class RemoteKeySet {
  readonly url: string;
  readonly #fetcher: KeySetFetcher;
  /** Whether the fetcher is this set's alone, and so closed with it. */
  readonly #ownFetcher: boolean;
  readonly #algorithms: readonly string[] | undefined;
  readonly #onUnfit: ((url: string, error: Error) => void) | undefined;
  readonly #onKeyRemoved: (() => void) | undefined;
  #local: LocalKeySet | undefined;
  /** The identities of the keys `#local` holds (see `keyIdentity`). */
  #held: ReadonlySet<string> = new Set();
  #lastError: Error | undefined;

  constructor(options: RemoteKeySetOptions) {
    this.#ownFetcher = !('fetcher' in options);
    this.#fetcher = 'fetcher' in options ? options.fetcher : new KeySetFetcher(options);
    this.url = this.#fetcher.url;
    this.#algorithms = options.algorithms;
    this.#onUnfit = options.onUnfit;
    this.#onKeyRemoved = options.onKeyRemoved;
    this.#fetcher.subscribe((fetched) => this.#take(fetched));
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
    if (local === undefined) throw this.#unavailable();
    try {
      return await local(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      // An unknown kid may be a freshly rotated key: look again, at most once per cooldown.
      if (this.#local === local) await this.#waitOnce(check);
      const latest = this.#local;
      // The fetch brought a set with no key for the algorithms: the keys held are gone with it.
      if (latest === undefined) throw this.#unavailable(error);
      if (latest !== local) return latest(header, token);
      // The keys held are out of date while fetches fail: the key may be one the server lists
      // now. An outage, not a foreign token, to the caller and to the metrics.
      if (this.#lastError !== undefined) throw new TokenCheckUnavailableError(`key set unavailable: no key for this token among those fetched, and the last fetch failed (${this.#lastError.message})`, { cause: error });
      throw error;
    }
  }

  /** Why no key is held. Callers see this message: the URL stays out of it (the fetch warning names it, masked). */
  #unavailable(cause?: unknown): TokenCheckUnavailableError {
    return new TokenCheckUnavailableError(`key set unavailable: ${this.#lastError?.message ?? 'not fetched yet'}`, { cause });
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

  /** Fetches as KeySetFetcher.refreshIfAllowed does, unless the check has already had its chance to. */
  async #waitOnce(check: Check): Promise<void> {
    if (check.waited) return;
    check.waited = true;
    await this.#fetcher.refreshIfAllowed();
  }

  /**
   * `loaded`: keys from the last fetch; `stale`: keys from an earlier fetch, the last one
   * failed; `missing`: no keys for the algorithms, none fetched yet or the last set the key
   * server answered listing none (tokens of this issuer are denied).
   */
  state(): KeySetState {
    if (this.#local === undefined) return 'missing';
    return this.#lastError === undefined ? 'loaded' : 'stale';
  }

  /** Stops the background refresh of a set fetching for itself alone; a shared fetcher is closed by its owner. */
  close(): void {
    if (this.#ownFetcher) this.#fetcher.close();
  }

  /**
   * Takes a fetch's keys unless it failed. A set with no usable key, or none for the algorithms
   * accepted here, replaces the keys held with none: the key server no longer lists them (an IdP
   * that removed a compromised key, say), so they must not verify a token from this fetch on.
   */
  #take(fetched: KeySetFetch): void {
    if ('error' in fetched) {
      this.#lastError = fetched.error;
      return;
    }
    const unfit = fetched.keys.keys.length === 0 ? 'no usable signing keys' : this.#algorithms === undefined ? undefined : noKeyForAlgorithms(fetched.keys.keys, this.#algorithms);
    const held = new Set(unfit === undefined ? fetched.keys.keys.map(keyIdentity) : []);
    const removed = [...this.#held].some((key) => !held.has(key));
    this.#held = held;
    if (unfit === undefined) {
      this.#local = createLocalJWKSet(fetched.keys);
      this.#lastError = undefined;
    } else {
      this.#local = undefined;
      this.#lastError = new UpstreamError(`answered a key set with ${unfit}`);
      this.#onUnfit?.(this.url, this.#lastError);
    }
    if (removed) this.#onKeyRemoved?.();
  }
}
