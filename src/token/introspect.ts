import { errors, type JWTVerifyGetKey } from 'jose';
import { findDuplicateKey } from '../duplicate-keys.js';
import { isJsonObject } from '../json-object.js';
import { jsonPath } from '../policy/json-path.js';
import { expiryMs, tokenKey, validFromMs } from './cache.js';
import type { Claims } from './claims.js';
import { InvalidTokenError, TokenCheckUnavailableError } from './errors.js';
import type { IntrospectionCache } from './introspection-cache.js';
import type { KeyLookup } from './jwks.js';
import { AnswerTooLargeError, bodyText, fetchBounded, UpstreamError, type BoundedResponse } from './fetch-bounded.js';
import { checkTimes, defaultClockTolerance, hasAudience, issuedInFuture, issuedInFutureDetail, joseTolerance, verifyWithKeySet, type TokenVerifier } from './verify.js';

/** What introspection said about one token; cached under the token's hash. */
export type IntrospectionResult =
  | { readonly active: true; readonly claims: Claims }
  | {
      readonly active: false;
      readonly detail: string;
      /**
       * When the answer may change for the same token (epoch ms): a not-yet-valid token's `nbf`,
       * or when the clock tolerance reaches the `iat` of one issued in the future.
       */
      readonly until?: number;
    };

/** RFC 9701: ask for signed `application/token-introspection+jwt` answers and verify them. */
export interface SignedIntrospectionOptions {
  readonly keys: JWTVerifyGetKey;
  /** Each answer's own key lookup, in place of `keys`, for a key set that is fetched (see JwtVerifierOptions.lookup). */
  readonly lookup?: () => KeyLookup;
  /** The authorization server's issuer identifier, the answer's `iss`. */
  readonly issuer: string;
  readonly algorithms: readonly string[];
}

export interface IntrospectorOptions {
  readonly url: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Whole lookup, milliseconds: the exchange, and for a signed answer the wait for its keys. */
  readonly timeoutMs?: number;
  readonly maxBytes?: number;
  /**
   * Results by token hash, inactive ones apart; without it every lookup asks the server. With
   * signed answers, its generation should count the fetches of their key set that left out a key
   * held (see ExpiringCacheOptions.generation): an answer checked with a key now gone is asked for again.
   */
  readonly cache?: IntrospectionCache;
  readonly signed?: SignedIntrospectionOptions;
  /**
   * Accepted `aud` values: an active token must name one (as a string or in an array). Unset,
   * any audience is taken: a server that answers for every token of its realm then admits
   * tokens issued to other APIs.
   */
  readonly audience?: readonly string[];
  readonly clock?: () => number;
  /**
   * Clock skew allowed an active answer's `exp`, `nbf` and `iat`, seconds: the JWT verifiers'
   * (`defaultClockTolerance` unless set), so a token expired, not yet valid or issued in the
   * future is taken or refused alike, JWT or introspected. A signed answer's own `exp`, `nbf` and `iat` get it too.
   */
  readonly clockTolerance?: number;
  /**
   * Told when lookups start failing (with the failure) and when one answers again: not every
   * failure, as an outage fails every opaque token, thousands a second.
   */
  readonly onAvailability?: (available: boolean, failure?: TokenCheckUnavailableError) => void;
}

/**
 * An active answer refused because its `exp` is passed by our clock alone, beyond the skew
 * allowed, which the server's own (it said active) does not agree with. Not remembered, as a
 * JWT's refusal is not: a host clock that ran ahead (a virtual machine resuming) and is stepped
 * back makes the token valid again at once, where a remembered refusal would deny it for
 * INTROSPECTION_CACHE_MAX_SECONDS.
 */
const expiredOnOurClock: IntrospectionResult = Object.freeze({ active: false, detail: 'token expired' });

const jwtMediaType = 'application/token-introspection+jwt';
const jsonMediaType = 'application/json';

/** RFC 6749 §2.3.1: client id and secret are form-encoded before they are joined. */
function basicAuth(id: string, secret: string): string {
  const encode = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(id)}:${encode(secret)}`).toString('base64')}`;
}

/**
 * Why an active answer is about a token that is not an access token, if it is. RFC 7662 names no
 * member for it, so each server says so its own way: `token_type` (RFC 7009's hint value), Ory
 * Hydra's `token_use`, Keycloak's `typ` (`Refresh`, `Offline` for an offline token, `ID` for an
 * ID token, whose audience is the client that asked for it, not an API). Presented as an access
 * token, it is refused, whichever way its server marks it.
 */
function notAccessToken(answer: Record<string, unknown>): string | undefined {
  const said = (member: string, ...values: string[]) => {
    const value = answer[member];
    return typeof value === 'string' && values.includes(value.toLowerCase());
  };
  if (said('token_type', 'refresh_token') || said('token_use', 'refresh_token') || said('typ', 'refresh', 'offline')) return 'a refresh token is not an access token';
  if (said('typ', 'id')) return 'an ID token is not an access token';
  return undefined;
}

function unavailable(detail: string, cause?: unknown): TokenCheckUnavailableError {
  return new TokenCheckUnavailableError(`introspection unavailable: ${detail}`, { cause });
}

/**
 * An answer of the type asked for, over the cap: the claims of this one token (a user with a very
 * large profile), not the endpoint failing, which answers every other token. It is a deny of that
 * token alone, neither an outage nor cached: asked again at its next presentation, it is taken
 * once the claims are trimmed.
 */
function tooLarge(error: AnswerTooLargeError): InvalidTokenError {
  return new InvalidTokenError(`introspection answer for this token larger than ${error.maxBytes} bytes, more than is read: its claims are too large`, { cause: error });
}

/** The answer's body as text (see `bodyText`); one that is not UTF-8 is a failure of the lookup. */
function answerText(response: BoundedResponse): string {
  try {
    return bodyText(response);
  } catch (error) {
    throw unavailable((error as Error).message, error);
  }
}

/**
 * The key set's work for a signed answer: finding its key, or fetching the set again. The set's
 * own refusal (`key set unavailable: …`) would read as a failure of the JWT key set: it is named
 * as the lookup's failure, as every other one is.
 */
async function forAnswer<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof TokenCheckUnavailableError) throw unavailable(`signed answer not verified (${error.message})`, error);
    throw error;
  }
}

/**
 * An RFC 7662 token introspection client: opaque tokens are sent to the authorization server
 * with HTTP Basic client credentials, and an active token's claims become the subject.
 * Answers are cached by token hash until the earliest of `exp`, a signed answer's own `exp` and
 * the cache's maximum age, an active one from its `nbf` and `iat` (one refused on our clock's
 * reading of `exp` not at all); concurrent lookups of one token share one request. A server that is
 * down, slow, failing or answering nonsense yields TokenCheckUnavailableError (a deny), and
 * nothing is cached.
 */
export function createIntrospector(options: IntrospectorOptions): TokenVerifier {
  const timeoutMs = options.timeoutMs ?? 2_000;
  const maxBytes = options.maxBytes ?? 64 * 1024;
  const clock = options.clock ?? Date.now;
  const clockTolerance = options.clockTolerance ?? defaultClockTolerance;
  const authorization = basicAuth(options.clientId, options.clientSecret);
  const accept = options.signed === undefined ? jsonMediaType : jwtMediaType;
  /**
   * Why an answer of `mediaType` is none, if it is not of the type asked for. RFC 7662 §2.2: the
   * answer is application/json; with signed answers asked for, a plain JSON one is a downgrade,
   * not a fallback. Anything else (a login page, a proxy's error page) is not an answer, even
   * should its body parse as one, and whatever its length.
   */
  const typeRefused = (mediaType: string): TokenCheckUnavailableError | undefined =>
    mediaType === accept ? undefined : unavailable(`answer is ${mediaType || 'untyped'}, expected ${accept}`);
  const inflight = new Map<string, Promise<IntrospectionResult>>();
  // Unknown until the first lookup ends: a first success is no news, a first failure is.
  let available: boolean | undefined;
  // Lookups started, and the start of the one `available` comes from: a lookup ending after a
  // later one is older news (a slow answer from before an outage, a timeout from before it ended).
  let started = 0;
  let newest = 0;
  const tell = (start: number, now: boolean, failure?: TokenCheckUnavailableError): void => {
    if (start < newest) return;
    newest = start;
    const news = now !== available && !(now && available === undefined);
    available = now;
    if (news) options.onAvailability?.(now, failure);
  };

  /**
   * The key set's work for an answer, waited for until `deadline` (performance.now()) at most:
   * a fetch may take JWKS_TIMEOUT_MS, and one lookup, the answer's verification included, has
   * `timeoutMs`. A fetch cut short goes on for the tokens after.
   */
  async function until<T>(deadline: number, work: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(unavailable(`no verified answer within ${timeoutMs} ms (its key set not fetched in time)`)), Math.max(0, deadline - performance.now()));
    });
    try {
      return await Promise.race([forAnswer(work), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The answer's body, and for a signed answer when it starts and stops being valid (epoch ms):
   * from the later of its own `nbf` and `iat` until its own `exp`, with the tolerance its
   * verification allows. Remembered outside them, it would still be taken where a fresh check of
   * the same answer refuses it (RFC 7519 §4.1.4, §4.1.5): past its `exp`, or before its `nbf` or
   * `iat` once the clock is stepped back.
   */
  async function readAnswer(mediaType: string, text: string, deadline: number): Promise<{ readonly answer: unknown; readonly validFrom?: number; readonly validUntil?: number }> {
    const signed = options.signed;
    const refused = typeRefused(mediaType);
    if (refused !== undefined) throw refused;
    if (signed === undefined) {
      let answer: unknown;
      try {
        answer = JSON.parse(text);
      } catch (error) {
        throw unavailable('answer is not JSON', error);
      }
      // JSON.parse keeps the last of a key written twice, where the server may have meant the
      // first: `"active": false` and then `"active": true` would read as active. RFC 7519 makes
      // the last one count in a JWT (a signed answer); for a JSON answer no rule says which.
      const duplicate = findDuplicateKey(text);
      if (duplicate !== undefined) throw unavailable(`answer writes ${jsonPath(duplicate)} twice`);
      return { answer };
    }
    try {
      const { keys, refetchKeys } = signed.lookup?.() ?? { keys: signed.keys };
      // The answer is a JWT the server issues by its own clock: its `exp` and `nbf`, if it sets
      // them, get the skew any JWT gets here, or a server a second ahead of us fails every lookup.
      // It must say when it was made (`iat`, RFC 9701 §5): without it, nothing dates the answer.
      const now = clock();
      const { payload } = await verifyWithKeySet(
        text,
        (header, token) => until(deadline, async () => keys(header, token)),
        { issuer: signed.issuer, audience: options.clientId, algorithms: [...signed.algorithms], typ: 'token-introspection+jwt', requiredClaims: ['iat'], clockTolerance: joseTolerance(clockTolerance), currentDate: new Date(now) },
        refetchKeys === undefined ? undefined : () => until(deadline, refetchKeys),
      );
      checkTimes(payload, clock(), clockTolerance);
      // jose checks `iat` only against a maximum age: made later than now, beyond the skew, the
      // answer comes from a server whose clock is wrong, and is refused as a JWT issued in the future is.
      if (typeof payload.iat === 'number' && issuedInFuture(payload.iat, now, clockTolerance)) throw new errors.JWTClaimValidationFailed(issuedInFutureDetail, payload, 'iat', 'check_failed');
      const expires = expiryMs(payload);
      const from = validFromMs(payload, clockTolerance);
      return {
        answer: payload['token_introspection'],
        ...(from !== undefined && { validFrom: from }),
        ...(expires !== undefined && { validUntil: expires + clockTolerance * 1000 }),
      };
    } catch (error) {
      if (error instanceof InvalidTokenError) throw error;
      const detail = error instanceof errors.JOSEError ? error.code : 'malformed';
      throw unavailable(`signed answer not verified (${detail})`, error);
    }
  }

  function judge(answer: Record<string, unknown>): IntrospectionResult {
    if (answer['active'] !== true) return { active: false, detail: 'token is not active' };
    // Times are NumericDates (RFC 7662 §2.2). One of another kind is refused, not ignored:
    // ignored, an `exp` of "1700000000" would make the token live for ever. jose refuses them in a JWT.
    for (const claim of ['exp', 'nbf', 'iat'] as const) {
      const time = answer[claim];
      if (time !== undefined && !(typeof time === 'number' && Number.isFinite(time))) return { active: false, detail: `"${claim}" is not a number` };
    }
    const now = clock();
    const exp = expiryMs(answer);
    // Past only within the skew allowed, as jose takes a JWT's: the server said active by its own
    // clock, which may run behind ours.
    if (exp !== undefined && exp <= now - clockTolerance * 1000) return expiredOnOurClock;
    const nbf = answer['nbf'];
    // Within the skew allowed, as jose takes a JWT's: the server said active by its own clock,
    // which may run ahead of ours. Remembered only until the skew reaches nbf: valid from then on.
    if (typeof nbf === 'number' && nbf > now / 1000 + clockTolerance) return { active: false, detail: 'token not yet valid', until: (nbf - clockTolerance) * 1000 };
    const iat = answer['iat'];
    // Refused as a JWT issued in the future is; remembered only until the skew allowed reaches it.
    if (typeof iat === 'number' && issuedInFuture(iat, now, clockTolerance)) return { active: false, detail: issuedInFutureDetail, until: (iat - clockTolerance) * 1000 };
    const otherKind = notAccessToken(answer);
    if (otherKind !== undefined) return { active: false, detail: otherKind };
    if (options.audience !== undefined && !hasAudience(answer['aud'], options.audience)) return { active: false, detail: 'audience not accepted' };
    return { active: true, claims: Object.freeze({ ...answer }) };
  }

  async function lookup(token: string, key: string): Promise<IntrospectionResult> {
    const start = (started += 1);
    try {
      const result = await ask(token, key);
      tell(start, true);
      return result;
    } catch (error) {
      // A refusal of this token alone (see `tooLarge`) is an answer: the endpoint is up.
      if (error instanceof TokenCheckUnavailableError) tell(start, false, error);
      else if (error instanceof InvalidTokenError) tell(start, true);
      throw error;
    }
  }

  async function ask(token: string, key: string): Promise<IntrospectionResult> {
    const deadline = performance.now() + timeoutMs;
    // Read before the answer is checked, so a key removal that overtakes the check sets it aside.
    const generation = options.cache?.generation();
    let response;
    try {
      response = await fetchBounded(
        options.url,
        {
          method: 'POST',
          headers: { authorization, accept, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
        },
        { timeoutMs, maxBytes },
      );
    } catch (error) {
      if (error instanceof AnswerTooLargeError) throw typeRefused(error.mediaType) ?? tooLarge(error);
      throw unavailable(error instanceof UpstreamError ? error.message : 'request failed', error);
    }
    if (response.status !== 200) throw unavailable(`answered HTTP ${response.status}`);
    const { answer, validFrom, validUntil } = await readAnswer(response.mediaType, answerText(response), deadline);
    if (!isJsonObject(answer) || typeof answer['active'] !== 'boolean') throw unavailable('answer has no boolean "active"');
    const result = judge(answer);
    if (result === expiredOnOurClock) return result;
    const changes = result.active ? expiryMs(result.claims) : result.until;
    // An active answer from its `nbf` and `iat` on, as judged, and a signed one from its own `nbf`
    // and `iat` on, as verified: a clock stepped back before them has it asked for again.
    const from = Math.max((result.active ? validFromMs(result.claims, clockTolerance) : undefined) ?? Number.NEGATIVE_INFINITY, validFrom ?? Number.NEGATIVE_INFINITY);
    options.cache?.set(key, result, { from, until: Math.min(changes ?? Number.POSITIVE_INFINITY, validUntil ?? Number.POSITIVE_INFINITY) }, generation);
    return result;
  }

  return {
    async verify(token) {
      const key = tokenKey(token);
      let result = options.cache?.get(key);
      if (result === undefined) {
        let pending = inflight.get(key);
        if (pending === undefined) {
          pending = lookup(token, key).finally(() => inflight.delete(key));
          inflight.set(key, pending);
        }
        result = await pending;
      }
      if (!result.active) throw new InvalidTokenError(result.detail);
      return result.claims;
    },
  };
}
