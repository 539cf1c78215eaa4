import { compactVerify, decodeJwt, errors, jwtVerify, type CryptoKey, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyResult } from 'jose';
import { claimAt, type Claims } from './claims.js';
import type { KeyLookup } from './jwks.js';
import { InvalidTokenError, TokenCheckUnavailableError } from './errors.js';

/** Turns a compact token into verified claims, or throws InvalidTokenError. */
export interface TokenVerifier {
  verify(token: string): Promise<Claims>;
}

export interface JwtVerifierOptions {
  readonly keys: JWTVerifyGetKey;
  readonly issuer: string;
  readonly audience: readonly string[];
  readonly algorithms: readonly string[];
  /** Allowed clock skew, seconds (`defaultClockTolerance` unless set). */
  readonly clockTolerance?: number;
  readonly maxTokenLength?: number;
  /**
   * The claim the audience is checked in: `aud` unless set (Cognito access tokens carry no
   * `aud`, only `client_id`); it must hold one of `audience`, as a string or in an array. A
   * name or a dotted path, read as the claim mapping reads its paths (see `claimAt`).
   */
  readonly audienceClaim?: string;
  /** Required `typ` header, e.g. `at+jwt` (RFC 9068); when absent, any but another kind of JWT's (`logout+jwt`). */
  readonly type?: string;
  /** Refuse a token without `exp` (true unless set): it would be accepted for ever. */
  readonly requireExp?: boolean;
  /** The time tokens are checked against; tests freeze it. */
  readonly clock?: () => Date;
  /**
   * For a key set that is fetched: each token's own key lookup, used in place of `keys`, with the
   * refetch a signature that fails under the keys held asks for (see RemoteKeySet.lookup).
   */
  readonly lookup?: () => KeyLookup;
}

/** Clock skew allowed a token's times unless configured otherwise, seconds (JWT_CLOCK_TOLERANCE_SECONDS). */
export const defaultClockTolerance = 30;

/** Why a token issued in the future (see `issuedInFuture`) is refused, in both the JWT and the introspection detail. */
export const issuedInFutureDetail = 'claim "iat" invalid: in the future';

/**
 * Whether `iat` (a NumericDate) lies ahead of `nowMs` (epoch ms) by more than `toleranceSeconds`.
 * jose checks `iat` only against a maximum age. A token issued later than now, beyond the
 * allowed skew, comes from an issuer whose clock is wrong: it is refused, as one whose `nbf`
 * lies ahead is, whether verified here or introspected.
 */
export function issuedInFuture(iat: number, nowMs: number, toleranceSeconds: number): boolean {
  return iat > nowMs / 1000 + toleranceSeconds;
}

/**
 * Whether a token not valid before `nbf` and expiring at `exp` (NumericDates) is refused at every
 * moment, `toleranceSeconds` allowed on both: it is taken from `nbf - tolerance` (jose refuses an
 * `nbf` ahead of the clock by more) until `exp + tolerance` (from then on it is expired).
 */
export function neverValid(nbf: number, exp: number, toleranceSeconds: number): boolean {
  return nbf - toleranceSeconds >= exp + toleranceSeconds;
}

/**
 * The clock tolerance jose is given where `checkTimes` follows its check: a second more than
 * `toleranceSeconds`, so that jose, which reads the clock in whole seconds cut down, refuses no
 * time that `checkTimes`, reading it to the millisecond, takes.
 */
export function joseTolerance(toleranceSeconds: number): number {
  return toleranceSeconds + 1;
}

/**
 * Holds a verified JWT's `nbf` and `exp` (NumericDates, which may have a fraction) to the clock at
 * `nowMs` (epoch ms), `toleranceSeconds` allowed, throwing what jose throws. jose cuts the clock
 * down to whole seconds: an `nbf` of 1700000000.4 was refused until 1700000001, and an `exp` of
 * 1700000000.4 taken until then, where the caches, reading the clock to the millisecond, take
 * the token from its `nbf` on and not from its `exp` on, as does the introspection of the same token.
 */
export function checkTimes(payload: JWTPayload, nowMs: number, toleranceSeconds: number): void {
  const now = nowMs / 1000;
  if (typeof payload.nbf === 'number' && payload.nbf > now + toleranceSeconds) throw new errors.JWTClaimValidationFailed('"nbf" claim timestamp check failed', payload, 'nbf', 'check_failed');
  if (typeof payload.exp === 'number' && payload.exp <= now - toleranceSeconds) throw new errors.JWTExpired('"exp" claim timestamp check failed', payload, 'exp', 'check_failed');
}

/** Algorithms accepted unless configured otherwise: asymmetric only. */
export const defaultAlgorithms = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;

/** The JWS signature algorithms a key set can verify (RFC 7518, RFC 8037, RFC 9864). */
export const keySetAlgorithms: ReadonlySet<string> = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']);

/** Why an algorithm name cannot be configured, if it cannot. */
export function algorithmProblem(alg: string): string | undefined {
  if (/^none$/i.test(alg)) return '"none" is never accepted';
  // Whoever holds a shared secret can sign tokens as well as check them: this service would hold one.
  if (/^HS\d+$/i.test(alg)) return `${alg} (HMAC) is never accepted: tokens are verified with asymmetric keys only`;
  if (keySetAlgorithms.has(alg)) return undefined;
  return `${alg} is not a JWS algorithm this service verifies (${[...keySetAlgorithms].join(', ')})`;
}

/**
 * At most this many keys are tried for a token without `kid` when several keys of the key set
 * fit its algorithm: each costs a signature check, and a large key set must not make one
 * token cost that many.
 */
const maxCandidateKeys = 8;

/** jose's own words, by error code. Its messages can quote the token's header names; these never do. */
const joseWords: Readonly<Record<string, string>> = {
  ERR_JWS_INVALID: 'token is not a well-formed JWS',
  ERR_JWT_INVALID: 'token is not a well-formed JWT',
  ERR_JOSE_NOT_SUPPORTED: 'token uses something this service does not support',
  ERR_JWKS_INVALID: 'key set is invalid',
  ERR_JWK_INVALID: 'key in the key set is invalid',
};

function describe(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'token expired';
  // Worded as introspection words it: the same token is refused alike, JWT or opaque.
  if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'nbf' && error.reason === 'check_failed') return 'token not yet valid';
  // `claim` is one jose checks (iss, aud, exp, nbf, iat, typ, or a required one), `reason` one of its constants.
  if (error instanceof errors.JWTClaimValidationFailed) return `claim "${error.claim}" invalid: ${error.reason}`;
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'signature verification failed';
  if (error instanceof errors.JWKSNoMatchingKey) return 'no matching key in the key set';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (error instanceof errors.JOSEError) {
    const code = /^ERR_[A-Z_]+$/.test(error.code) ? error.code : 'ERR_JOSE_GENERIC';
    // The parameter's name is the token's to choose: only the fact is told.
    const words = error.message.startsWith('Extension Header Parameter') ? 'token has an unrecognised critical header' : joseWords[code];
    return `${words ?? 'token could not be verified'} (${code})`;
  }
  // A key server that cannot be reached fails inside fetch, with its TypeError, not a JOSEError.
  if (error instanceof TypeError && error.message === 'fetch failed') return 'key set unavailable';
  return 'token could not be verified';
}

type VerifyOptions = Parameters<typeof jwtVerify>[2];

/**
 * jwtVerify over a key set, also for a token without `kid` that several keys fit (an IdP
 * rotating keys may leave `kid` out): jose then hands back the candidates instead of trying
 * them, and the first of at most `maxCandidateKeys` whose signature checks is taken. A signature
 * that fails under a key the set holds may be one an issuer re-issued under the same `kid`: the
 * set is fetched again through `refetch`, when given and allowed (once per cooldown, as for an
 * unknown `kid`), and the token checked once more if other keys came.
 */
export async function verifyWithKeySet(token: string, keys: JWTVerifyGetKey, options: VerifyOptions, refetch?: () => Promise<boolean>): Promise<JWTVerifyResult> {
  try {
    return await verifyWithKeys(token, keys, options);
  } catch (error) {
    if (!(error instanceof errors.JWSSignatureVerificationFailed) || refetch === undefined || !(await refetch())) throw error;
    return verifyWithKeys(token, keys, options);
  }
}

function verifyWithKeys(token: string, keys: JWTVerifyGetKey, options: VerifyOptions): Promise<JWTVerifyResult> {
  return withCandidateKeys(() => jwtVerify(token, keys, options), (key) => jwtVerify(token, key, options));
}

/**
 * `verify` (a check against the key set), or, when several of its keys fit a token without
 * `kid`, `verifyWith` each of the first `maxCandidateKeys` of them until one checks the
 * signature: how the server finds a token's key, for `pdp token` to find it alike. Throws what
 * a check throws other than a wrong signature, or a wrong signature when no candidate checks it.
 */
export async function withCandidateKeys<T>(verify: () => Promise<T>, verifyWith: (key: CryptoKey) => Promise<T>): Promise<T> {
  try {
    return await verify();
  } catch (error) {
    if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
    let tried = 0;
    for await (const key of error) {
      if (tried === maxCandidateKeys) break;
      tried += 1;
      try {
        return await verifyWith(key);
      } catch (failure) {
        if (!(failure instanceof errors.JWSSignatureVerificationFailed)) throw failure;
      }
    }
    throw new errors.JWSSignatureVerificationFailed();
  }
}

/** Whether an audience claim (a string or an array) names one of `accepted`. */
export function hasAudience(value: unknown, accepted: readonly string[]): boolean {
  const values = Array.isArray(value) ? value : [value];
  return values.some((v) => typeof v === 'string' && accepted.includes(v));
}

/**
 * Whether a `typ` header names a kind of JWT other than an access token: a media type ending in
 * `+jwt` (RFC 8725 §3.11's explicit typing), `application/` or not, other than `at+jwt` (RFC 9068).
 * An issuer signs such tokens with the keys of its access tokens (a back-channel logout token,
 * `logout+jwt`, with the client as its audience; a security event, `secevent+jwt`; a signed
 * introspection answer, `token-introspection+jwt`), so one presented here is refused even where
 * no type is required: it was never meant to be one.
 */
function otherKindOfToken(typ: unknown): boolean {
  if (typeof typ !== 'string') return false;
  const type = typ.toLowerCase().replace(/^application\//, '');
  return type.endsWith('+jwt') && type !== 'at+jwt';
}

/** A JWT verifier pinned to one issuer, its audiences and an algorithm allowlist. */
export function createJwtVerifier(options: JwtVerifierOptions): TokenVerifier {
  const maxTokenLength = options.maxTokenLength ?? 16_384;
  const clock = options.clock ?? (() => new Date());
  const audienceClaim = options.audienceClaim ?? 'aud';
  const clockTolerance = options.clockTolerance ?? defaultClockTolerance;
  const verifyOptions = {
    issuer: options.issuer,
    ...(audienceClaim === 'aud' && { audience: [...options.audience] }),
    algorithms: [...options.algorithms],
    clockTolerance: joseTolerance(clockTolerance),
    ...(options.type !== undefined && { typ: options.type }),
    ...(options.requireExp !== false && { requiredClaims: ['exp'] }),
  };
  return {
    async verify(token) {
      if (token.length > maxTokenLength) throw new InvalidTokenError(`token longer than ${maxTokenLength} characters`);
      try {
        const now = clock();
        const { keys, refetchKeys } = options.lookup?.() ?? { keys: options.keys };
        const { payload, protectedHeader } = await verifyWithKeySet(token, keys, { ...verifyOptions, currentDate: now }, refetchKeys);
        if (options.type === undefined && otherKindOfToken(protectedHeader.typ)) throw new InvalidTokenError('claim "typ" invalid: another kind of token than an access token');
        // jose read `now` before the token's key was waited for (a fetch can take JWKS_TIMEOUT_MS):
        // a token that expired meanwhile would be taken after its `exp`.
        checkTimes(payload, clock().getTime(), clockTolerance);
        if (typeof payload.iat === 'number' && issuedInFuture(payload.iat, now.getTime(), clockTolerance)) throw new InvalidTokenError(issuedInFutureDetail);
        if (audienceClaim !== 'aud' && !hasAudience(claimAt(payload, audienceClaim), options.audience)) {
          throw new InvalidTokenError(`claim "${audienceClaim}" invalid: check_failed`);
        }
        return Object.freeze(payload);
      } catch (error) {
        if (error instanceof InvalidTokenError) throw error;
        if (error instanceof errors.JWKSTimeout) throw new TokenCheckUnavailableError('key set fetch timed out', { cause: error });
        throw new InvalidTokenError(describe(error), { cause: error });
      }
    },
  };
}

/** What kind of JSON value a claim holds, in words for a deny's detail: never the value, which is the token's to choose. */
function jsonKind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** Thrown by the key lookup of `checkHeader`: jose found nothing wrong with the header. */
const headerPassed = new Error('header passed');

/**
 * jose's own checks of a compact JWS's protected header, the ones an issuer's verifier makes
 * before it looks for a key: a JSON object, a string `alg`, a `crit` listing only parameters it
 * recognises, and a payload that is encoded, as a JWT's always is (`b64`). Run without a key, and
 * without the issuer's algorithms, which only its own verifier knows. Throws jose's error.
 */
async function checkHeader(token: string): Promise<void> {
  try {
    await compactVerify(token, (header) => {
      // jose refuses an unencoded payload only once the signature checks (jwtVerify).
      if (header.crit?.includes('b64') === true && header.b64 === false) throw new errors.JWTInvalid('JWTs MUST NOT use unencoded payload');
      throw headerPassed;
    });
  } catch (error) {
    if (error !== headerPassed) throw error;
  }
}

/**
 * The unverified `iss` of a compact JWS, its header checked first, as an issuer's verifier checks
 * it (see `checkHeader`): what is wrong with a token's header is what is wrong with it, before
 * any claim, and is told as that verifier tells it. Throws jose's error.
 */
async function unverifiedIssuer(token: string): Promise<unknown> {
  if (token.split('.').length === 3) await checkHeader(token);
  return decodeJwt(token).iss;
}

/**
 * A JWT verifier over several issuers, each pinned to its own keys, audiences and algorithms.
 * The unverified `iss` only picks which issuer's verifier runs; that verifier then checks
 * `iss` again, so a token is only ever verified with its own issuer's keys.
 */
export function createIssuerVerifier(verifiers: ReadonlyMap<string, TokenVerifier>): TokenVerifier {
  return {
    async verify(token) {
      let iss: unknown;
      try {
        iss = await unverifiedIssuer(token);
      } catch (error) {
        throw new InvalidTokenError(describe(error), { cause: error });
      }
      if (iss === undefined) throw new InvalidTokenError('token has no "iss" claim');
      if (typeof iss !== 'string') throw new InvalidTokenError(`claim "iss" invalid: ${jsonKind(iss)}, not a string`);
      const verifier = verifiers.get(iss);
      if (verifier === undefined) throw new InvalidTokenError('issuer not accepted');
      return verifier.verify(token);
    },
  };
}
