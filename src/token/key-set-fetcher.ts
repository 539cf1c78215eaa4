import type { JSONWebKeySet } from 'jose';
import { parseSource } from '../json-source.js';
import { bodyText, fetchBounded, UpstreamError } from './fetch-bounded.js';
import { KeyCountError, maxKeySetBytes, usableKeys } from './usable-keys.js';

/** What one fetch of a key set brought: its usable keys (perhaps none), or why it failed. */
export type KeySetFetch = { readonly keys: JSONWebKeySet } | { readonly error: UpstreamError };

export interface KeySetFetcherOptions {
  readonly url: string;
  /** Per fetch, connect to last byte. */
  readonly timeoutMs?: number;
  /** Least time between two fetches caused by unknown key ids (or by having no keys yet). */
  readonly cooldownMs?: number;
  /** Background refresh period; 0 turns it off. */
  readonly refreshMs?: number;
  readonly maxBytes?: number;
  /** Told about every failed fetch, once whatever the number of issuers taking the set. */
  readonly onFetchError?: (url: string, error: Error) => void;
}

/**
 * The fetches of one key set URL, shared by every issuer that names it (one identity provider,
 * several tenants or audiences): one fetch at start, one per rotation and one per cooldown in an
 * outage, not one per issuer. Every attempt, failed or not, starts the cooldown (jose's own
 * remote set counts only successful ones, so a flood of unknown kids during an outage refetched
 * on every request); concurrent callers share one fetch. Each fetch is told to every subscriber
 * before the callers waiting on it resume.
 */
export class KeySetFetcher {
  readonly url: string;
  readonly #timeoutMs: number;
  readonly #cooldownMs: number;
  readonly #maxBytes: number;
  readonly #onFetchError: ((url: string, error: Error) => void) | undefined;
  readonly #subscribers: ((fetched: KeySetFetch) => void)[] = [];
  /** The last fetch done: told to an issuer subscribing after it (one read from a key file first, say). */
  #last: KeySetFetch | undefined;
  #lastAttempt = Number.NEGATIVE_INFINITY;
  #pending: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: KeySetFetcherOptions) {
    this.url = new URL(options.url).href;
    this.#timeoutMs = options.timeoutMs ?? 2_000;
    this.#cooldownMs = options.cooldownMs ?? 30_000;
    this.#maxBytes = options.maxBytes ?? maxKeySetBytes;
    this.#onFetchError = options.onFetchError;
    const refreshMs = options.refreshMs ?? 300_000;
    if (refreshMs > 0) {
      this.#timer = setInterval(() => void this.refresh(), refreshMs);
      this.#timer.unref();
    }
  }

  /** Tells `take` of the last fetch done, if any, then of every fetch from now on. */
  subscribe(take: (fetched: KeySetFetch) => void): void {
    this.#subscribers.push(take);
    if (this.#last !== undefined) take(this.#last);
  }

  /** Fetches the key set now, or joins the fetch running. Never rejects. */
  refresh(): Promise<void> {
    this.#pending ??= this.#fetch().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  /** Joins a running fetch, or starts one unless the last attempt is within the cooldown. */
  async refreshIfAllowed(): Promise<void> {
    if (this.#pending === undefined && performance.now() - this.#lastAttempt < this.#cooldownMs) return;
    await this.refresh();
  }

  /** Stops the background refresh. */
  close(): void {
    clearInterval(this.#timer);
  }

  async #fetch(): Promise<void> {
    // Time as it runs, not the wall clock: a clock stepped back an hour (NTP, a VM resuming) held
    // a rotated key off for that hour, every token it signed denied.
    this.#lastAttempt = performance.now();
    const fetched = await this.#read();
    this.#last = fetched;
    if ('error' in fetched) this.#onFetchError?.(this.url, fetched.error);
    for (const take of this.#subscribers) take(fetched);
  }

  async #read(): Promise<KeySetFetch> {
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
      const source = parseSource(bodyText(response));
      if (!('value' in source)) throw new UpstreamError(source.path === '$' ? 'answered something that is not JSON' : `answered a key set refused at ${source.path}: ${source.message}`);
      return { keys: await usableKeys(source.value) };
    } catch (error) {
      if (error instanceof KeyCountError) return { error: new UpstreamError(`answered a key set that ${error.message}`, { cause: error }) };
      // Anything but our own UpstreamError came from reading the document: its text is not ours to pass on.
      return { error: error instanceof UpstreamError ? error : new UpstreamError('answered something that is not a JWKS', { cause: error }) };
    }
  }
}
