import type { JWTVerifyGetKey } from 'jose';
import { maskUrl } from '../config-summary.js';
import { ConfigError, tokenFetchProblem, type Config } from '../config.js';
import { printable } from '../printable.js';
import { ExpiringCache, maxTokenCacheJsonLength } from './cache.js';
import { claimsCheck } from './accept.js';
import { bindingProblem, type BindingCheck, type TokenBinding } from './binding.js';
import { cachedVerifier } from './cached-verifier.js';
import type { NamedType } from '../policy/entity-names.js';
import { issuerClaimMapper, type ClaimMapper, type ClaimMapping, type Claims } from './claims.js';
import { readTokenConfigFile, type IssuerEntry } from './config-file.js';
import { createIntrospector } from './introspect.js';
import { IntrospectionCache, inactiveEntriesFor } from './introspection-cache.js';
import { localKeySet, RemoteKeySet, type KeySetState } from './jwks.js';
import { KeySetFetcher } from './key-set-fetcher.js';
import type { TokenObserver } from './observer.js';
import { isPlainHttpRemote } from './plain-http.js';
import { createTokenVerifier } from './token-verifier.js';
import { createIssuerVerifier, createJwtVerifier, type JwtVerifierOptions, type TokenVerifier } from './verify.js';

/** Everything token handling needs at run time, built once at start. */
export interface Tokens {
  /** Verifies JWTs and introspects opaque tokens; refuses everything when nothing is configured. */
  readonly verifier: TokenVerifier;
  readonly claims: ClaimMapper;
  /**
   * The subject types issuers' entries set (`claims.subjectType`), each with where it is set: entity
   * types are held to them at load, as to `user`, the type of the other tokens' subjects.
   */
  readonly subjectTypes: readonly NamedType[];
  /** What is configured, without secrets, for the start log. */
  readonly summary: Readonly<Record<string, unknown>>;
  /**
   * The plain http:// token URLs to hosts other than loopback, masked: only configured with
   * ALLOW_HTTP_TOKEN_URLS=true, for the start-up warning.
   */
  readonly plainHttpUrls: readonly string[];
  /** Each remote key set and how fresh its keys are (local key files are always loaded). */
  keySets(): { readonly url: string; readonly state: KeySetState }[];
  /** Stops background key refreshes. */
  close(): void;
}

export interface TokensOptions {
  readonly observer?: TokenObserver;
  /** Told when a remote key set cannot be fetched (the previous keys stay in use). */
  readonly onKeySetError?: (url: string, error: Error) => void;
  /**
   * Told when a remote key set is fetched with no key for the algorithms of an issuer taking it:
   * that issuer's keys are dropped, its tokens denied until the set lists one.
   */
  readonly onKeySetUnfit?: (url: string, error: Error) => void;
  /** Told when introspection starts failing, and when it answers again (see createIntrospector). */
  readonly onIntrospectionAvailability?: (url: string, available: boolean, failure?: Error) => void;
}

function issuersFromEnv(config: Config): IssuerEntry[] {
  const keys = config.JWKS_FILE !== undefined ? { jwksFile: config.JWKS_FILE } : config.JWKS_URL !== undefined ? { jwksUrl: config.JWKS_URL } : undefined;
  if (keys === undefined || config.JWT_ISSUER === undefined) return [];
  return [{ issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, algorithms: config.JWT_ALGORITHMS, ...(config.JWT_TYPE !== undefined && { type: config.JWT_TYPE }), ...keys }];
}

/**
 * The issuers of the configuration: JWT_ISSUER with its key set, then TOKEN_CONFIG_FILE's.
 * Throws ConfigError for a combination the server refuses to start with, so `pdp test`, `pdp
 * check` and `pdp token`, which read the issuers here too, refuse it as well.
 */
async function issuerEntries(config: Config): Promise<IssuerEntry[]> {
  const fromFile = config.TOKEN_CONFIG_FILE === undefined ? [] : await readTokenConfigFile(config.TOKEN_CONFIG_FILE, { allowHttpUrls: config.ALLOW_HTTP_TOKEN_URLS === 'true' });
  const fromEnv = issuersFromEnv(config);
  // The file refuses an issuer it lists twice itself: one listed again can only be JWT_ISSUER.
  const twice = fromEnv.find((env) => fromFile.some((entry) => entry.issuer === env.issuer));
  if (twice !== undefined) throw new ConfigError(`issuer ${twice.issuer} is configured twice (JWT_ISSUER and TOKEN_CONFIG_FILE)`);
  // JWKS_URL was held to the request deadline with the rest of the configuration; the file's URLs are now known.
  if (config.JWKS_URL === undefined && fromFile.some((entry) => entry.jwksUrl !== undefined)) {
    const problem = tokenFetchProblem('JWKS_TIMEOUT_MS', config.JWKS_TIMEOUT_MS, config.REQUEST_TIMEOUT_MS);
    if (problem !== undefined) throw new ConfigError(`JWKS_TIMEOUT_MS (for the jwksUrl of TOKEN_CONFIG_FILE): ${problem}`);
  }
  return [...fromEnv, ...fromFile];
}

/**
 * Where the key file of the issuer at `index` of issuerEntries is given, as a start-up failure
 * names it: the environment's entry comes first (JWKS_FILE), then TOKEN_CONFIG_FILE's, in its order.
 */
function keyFileSetting(config: Config, index: number): string {
  const fromEnv = issuersFromEnv(config).length;
  return index < fromEnv ? 'JWKS_FILE' : `TOKEN_CONFIG_FILE $.issuers[${index - fromEnv}].jwksFile`;
}

/** The keys of a key file, as the server loads them; `setting` (where `file` was given) names it when they cannot be. */
async function keyFile(file: string, setting: string, algorithms: readonly string[]) {
  return localKeySet(file, algorithms).catch((error: unknown) => {
    throw new ConfigError(printable(`${setting}: key set ${file}: ${(error as Error).message}`), { cause: error });
  });
}

/**
 * Loads every key file the server would (each issuer's, INTROSPECTION_JWKS_FILE) and throws the
 * ConfigError it would stop with: `pdp test` and `pdp check` use no keys, but a setting the
 * server refuses must fail them too, not pass until the deployment does. Returns the keys of
 * each issuer of `entries` whose key set is a file, in its order, for `pdp token`.
 */
async function checkKeyFiles(config: Config, entries: readonly IssuerEntry[]): Promise<(JWTVerifyGetKey | undefined)[]> {
  const keys: (JWTVerifyGetKey | undefined)[] = [];
  for (const [index, entry] of entries.entries()) {
    keys.push(entry.jwksFile === undefined ? undefined : await keyFile(entry.jwksFile, keyFileSetting(config, index), entry.algorithms ?? config.JWT_ALGORITHMS));
  }
  if (config.INTROSPECTION_JWKS_FILE !== undefined) await keyFile(config.INTROSPECTION_JWKS_FILE, 'INTROSPECTION_JWKS_FILE', config.JWT_ALGORITHMS);
  return keys;
}

/** How claims become a subject: the CLAIM_* settings, overridden by each issuer entry's `claims`. */
function claimMapperOf(config: Config, entries: readonly IssuerEntry[]): ClaimMapper {
  const fallback: ClaimMapping = {
    subject: config.CLAIM_SUBJECT,
    roles: config.CLAIM_ROLES,
    scopes: config.CLAIM_SCOPES,
    rolePrefixes: config.CLAIM_ROLE_PREFIXES,
  };
  const mappings = new Map<string, ClaimMapping>();
  for (const entry of entries) if (entry.claims !== undefined) mappings.set(entry.issuer, { ...fallback, ...entry.claims });
  return issuerClaimMapper(fallback, mappings);
}

/** The subject types the entries set, for `Tokens.subjectTypes`. */
function subjectTypesOf(config: Config, entries: readonly IssuerEntry[]): NamedType[] {
  const fromEnv = issuersFromEnv(config).length;
  return entries.flatMap((entry, index) => entry.claims?.subjectType === undefined
    ? []
    : [{ name: entry.claims.subjectType, where: `TOKEN_CONFIG_FILE $.issuers[${index - fromEnv}].claims.subjectType, the type of its tokens' subjects` }]);
}

/** Whether sender-constrained tokens are refused: TOKEN_BINDING, overridden by each issuer entry's `tokenBinding`. */
function bindingCheckOf(config: Config, entries: readonly IssuerEntry[]): BindingCheck {
  const byIssuer = new Map<string, TokenBinding>();
  for (const entry of entries) if (entry.tokenBinding !== undefined) byIssuer.set(entry.issuer, entry.tokenBinding);
  return bindingProblem(config.TOKEN_BINDING, byIssuer);
}

/**
 * The claim mapping and subject types the server would use with this configuration, without its
 * key sets: for `pdp test` and `pdp check`, so they map claims and hold entity types to the
 * issuers' subject types as the server does.
 */
export async function claimTermsFromConfig(config: Config): Promise<Pick<Tokens, 'claims' | 'subjectTypes'>> {
  const entries = await issuerEntries(config);
  await checkKeyFiles(config, entries);
  return { claims: claimMapperOf(config, entries), subjectTypes: subjectTypesOf(config, entries) };
}

/** What the server holds one issuer's JWTs to besides their keys, and where that is set. */
export interface IssuerTerms {
  /** The audiences accepted, one of which the audience claim must name. */
  readonly audience: readonly string[];
  /** The claim the audience is checked in, where the issuer's `audienceClaim` sets one, and where that is (`TOKEN_CONFIG_FILE $.issuers[0].audienceClaim`); else `aud`. */
  readonly audienceClaim?: { readonly claim: string; readonly setting: string };
  /** The signature algorithms accepted: JWT_ALGORITHMS, or the issuer's `algorithms`. */
  readonly algorithms: readonly string[];
  /** The `typ` header its tokens carry: JWT_TYPE, or the issuer's `type`; `JWT` when neither says. */
  readonly type: string;
  /** The claim its subject id is read from, and where that is set (`CLAIM_SUBJECT`, or the issuer's `claims.subject`). */
  readonly subject: { readonly claim: string; readonly setting: string };
  /** Where the issuer is configured: `JWT_ISSUER` or `TOKEN_CONFIG_FILE`. */
  readonly setting: 'JWT_ISSUER' | 'TOKEN_CONFIG_FILE';
  /**
   * Its keys as the server loads them, where they are a file, with its path and where that is
   * set (`JWKS_FILE`, `TOKEN_CONFIG_FILE $.issuers[0].jwksFile`); a key set URL is not fetched.
   */
  readonly keyFile?: { readonly path: string; readonly setting: string; readonly keys: JWTVerifyGetKey };
}

/** What `pdp token` checks a token against: the issuers with their terms, the claim mapping, and whether a `cnf` is taken. */
export interface TokenSettings {
  readonly claims: ClaimMapper;
  /** TOKEN_BINDING, or the issuer's `tokenBinding` in TOKEN_CONFIG_FILE: why claims with `cnf` are refused, if they are. */
  readonly binding: BindingCheck;
  /**
   * Each issuer whose JWTs the server verifies, in the order configured, with its terms. Empty
   * when it verifies none: a JWT is then introspected, or denied as nothing is configured.
   */
  readonly issuers: ReadonlyMap<string, IssuerTerms>;
}

/** The server's token settings for `pdp token`, from one read of TOKEN_CONFIG_FILE. */
export async function tokenSettingsFromConfig(config: Config): Promise<TokenSettings> {
  const entries = await issuerEntries(config);
  const keys = await checkKeyFiles(config, entries);
  const fromEnv = issuersFromEnv(config).length;
  return {
    claims: claimMapperOf(config, entries),
    binding: bindingCheckOf(config, entries),
    issuers: new Map(entries.map((entry, index) => [entry.issuer, {
      audience: entry.audience,
      ...(entry.audienceClaim !== undefined && { audienceClaim: { claim: entry.audienceClaim, setting: `TOKEN_CONFIG_FILE $.issuers[${index - fromEnv}].audienceClaim` } }),
      algorithms: entry.algorithms ?? config.JWT_ALGORITHMS,
      type: entry.type ?? 'JWT',
      subject: entry.claims?.subject === undefined
        ? { claim: config.CLAIM_SUBJECT, setting: 'CLAIM_SUBJECT' }
        : { claim: entry.claims.subject, setting: `TOKEN_CONFIG_FILE $.issuers[${index - fromEnv}].claims.subject` },
      setting: index < fromEnv ? 'JWT_ISSUER' : 'TOKEN_CONFIG_FILE',
      ...(entry.jwksFile !== undefined && keys[index] !== undefined && { keyFile: { path: entry.jwksFile, setting: keyFileSetting(config, index), keys: keys[index] } }),
    }])),
  };
}

const stateRank: Readonly<Record<KeySetState, number>> = { loaded: 0, stale: 1, missing: 2 };

/**
 * One entry per key set URL, in the order first named: its state the worst among the issuers
 * taking it, as a set with no key for one issuer's algorithms is `missing` to that one alone.
 */
function keySetStates(sets: readonly RemoteKeySet[]): { readonly url: string; readonly state: KeySetState }[] {
  const states = new Map<string, KeySetState>();
  for (const set of sets) {
    const known = states.get(set.url);
    const state = set.state();
    if (known === undefined || stateRank[state] > stateRank[known]) states.set(set.url, state);
  }
  return [...states].map(([url, state]) => ({ url, state }));
}

/** An issuer's keys, and for a remote key set each check's own lookup of them (see RemoteKeySet.lookup). */
type KeySource = Pick<JwtVerifierOptions, 'keys' | 'lookup'>;

/** Builds token verification and claim mapping from the environment and TOKEN_CONFIG_FILE. */
export async function tokensFromConfig(config: Config, options: TokensOptions = {}): Promise<Tokens> {
  const remote: RemoteKeySet[] = [];
  // One fetcher per key set URL, whatever the number of issuers naming it (one identity provider,
  // several tenants or audiences): N issuers fetched it N times at start, at each rotation and
  // per cooldown during an outage. Each issuer still takes from it by its own algorithms.
  const fetchers = new Map<string, KeySetFetcher>();
  const fetcherOf = (url: string): KeySetFetcher => {
    const href = new URL(url).href;
    const known = fetchers.get(href);
    if (known !== undefined) return known;
    const fetcher = new KeySetFetcher({
      url: href,
      timeoutMs: config.JWKS_TIMEOUT_MS,
      cooldownMs: config.JWKS_COOLDOWN_SECONDS * 1000,
      refreshMs: config.JWKS_REFRESH_SECONDS * 1000,
      onFetchError: options.onKeySetError,
    });
    fetchers.set(href, fetcher);
    void fetcher.refresh();
    return fetcher;
  };
  // Fetches that left out a key held before, of the JWT issuers' key sets and of the signed
  // introspection answers' one: the generations of the verified-token and introspection caches.
  let keyRemovals = 0;
  let introspectionKeyRemovals = 0;
  /**
   * `setting`: where `file` was given, named in the one line a start-up failure prints;
   * `algorithms`: those accepted from the key set, one of which a key of `file` (or of each set
   * fetched from `url`) must fit; `onKeyRemoved`: told when a fetch of `url` leaves out a key.
   */
  const keySet = async (file: string | undefined, url: string | undefined, setting: string, algorithms: readonly string[], onKeyRemoved?: () => void): Promise<KeySource> => {
    if (file !== undefined) return { keys: await keyFile(file, setting, algorithms) };
    if (url === undefined) throw new ConfigError('a key set needs a file or a URL');
    const set = new RemoteKeySet({ fetcher: fetcherOf(url), algorithms, onUnfit: options.onKeySetUnfit, onKeyRemoved });
    remote.push(set);
    return { keys: set.getKey, lookup: () => set.lookup() };
  };

  const entries = await issuerEntries(config);
  const verifiers = new Map<string, TokenVerifier>();
  for (const [index, entry] of entries.entries()) {
    const algorithms = entry.algorithms ?? config.JWT_ALGORITHMS;
    verifiers.set(
      entry.issuer,
      createJwtVerifier({
        ...(await keySet(entry.jwksFile, entry.jwksUrl, keyFileSetting(config, index), algorithms, () => {
          keyRemovals += 1;
        })),
        issuer: entry.issuer,
        audience: entry.audience,
        audienceClaim: entry.audienceClaim,
        algorithms,
        clockTolerance: config.JWT_CLOCK_TOLERANCE_SECONDS,
        maxTokenLength: config.TOKEN_MAX_LENGTH,
        type: entry.type,
        requireExp: entry.requireExp ?? config.JWT_REQUIRE_EXP === 'true',
      }),
    );
  }

  const jwtCache = config.TOKEN_CACHE_ENTRIES > 0 ? new ExpiringCache<Claims>({ maxEntries: config.TOKEN_CACHE_ENTRIES, maxJsonLength: maxTokenCacheJsonLength, maxTtlMs: config.TOKEN_CACHE_MAX_SECONDS * 1000, generation: () => keyRemovals }) : undefined;
  const issuers = verifiers.size === 0 ? undefined : createIssuerVerifier(verifiers);
  const jwt = issuers !== undefined && jwtCache !== undefined ? cachedVerifier(issuers, jwtCache, config.JWT_CLOCK_TOLERANCE_SECONDS) : issuers;

  let introspection: TokenVerifier | undefined;
  const introspectionUrl = config.INTROSPECTION_URL;
  // Inactive answers apart, so made-up tokens push out no active one (see IntrospectionCache).
  const introspectionCache =
    introspectionUrl !== undefined && config.TOKEN_CACHE_ENTRIES > 0 && config.INTROSPECTION_CACHE_MAX_SECONDS > 0
      ? { activeEntries: config.TOKEN_CACHE_ENTRIES, inactiveEntries: inactiveEntriesFor(config.TOKEN_CACHE_ENTRIES), maxSeconds: config.INTROSPECTION_CACHE_MAX_SECONDS }
      : undefined;
  if (introspectionUrl !== undefined) {
    const signedKeys = config.INTROSPECTION_JWKS_FILE !== undefined || config.INTROSPECTION_JWKS_URL !== undefined
      ? await keySet(config.INTROSPECTION_JWKS_FILE, config.INTROSPECTION_JWKS_URL, 'INTROSPECTION_JWKS_FILE', config.JWT_ALGORITHMS, () => {
          introspectionKeyRemovals += 1;
        })
      : undefined;
    introspection = createIntrospector({
      url: introspectionUrl,
      clientId: config.INTROSPECTION_CLIENT_ID ?? '',
      clientSecret: config.INTROSPECTION_CLIENT_SECRET ?? '',
      timeoutMs: config.INTROSPECTION_TIMEOUT_MS,
      clockTolerance: config.JWT_CLOCK_TOLERANCE_SECONDS,
      ...(introspectionCache !== undefined && {
        cache: new IntrospectionCache({
          activeEntries: introspectionCache.activeEntries,
          inactiveEntries: introspectionCache.inactiveEntries,
          maxJsonLength: maxTokenCacheJsonLength,
          maxTtlMs: introspectionCache.maxSeconds * 1000,
          generation: () => introspectionKeyRemovals,
        }),
      }),
      ...(config.INTROSPECTION_AUDIENCE.length > 0 && { audience: config.INTROSPECTION_AUDIENCE }),
      signed: signedKeys === undefined ? undefined : { ...signedKeys, issuer: config.INTROSPECTION_JWT_ISSUER ?? '', algorithms: config.JWT_ALGORITHMS },
      onAvailability: (available, failure) => options.onIntrospectionAvailability?.(introspectionUrl, available, failure),
    });
  }

  const claims = claimMapperOf(config, entries);
  const tokenUrls = [...entries.map((e) => e.jwksUrl), config.INTROSPECTION_URL, config.INTROSPECTION_JWKS_URL];
  return {
    verifier: createTokenVerifier({ jwt, introspection, observer: options.observer, maxTokenLength: config.TOKEN_MAX_LENGTH, accept: claimsCheck(claims, bindingCheckOf(config, entries)) }),
    claims,
    subjectTypes: subjectTypesOf(config, entries),
    summary: {
      // For the startup log: URLs with their passwords and query values masked.
      // Each issuer's own tokenBinding shows: a relaxed one for one issuer is not hidden behind TOKEN_BINDING.
      issuers: entries.map((e) => ({ issuer: e.issuer, audience: e.audience, keys: e.jwksFile ?? maskUrl(e.jwksUrl ?? ''), tokenBinding: e.tokenBinding ?? config.TOKEN_BINDING })),
      introspection: config.INTROSPECTION_URL === undefined ? 'off' : maskUrl(config.INTROSPECTION_URL),
      introspectionAudience: config.INTROSPECTION_AUDIENCE.length > 0 ? config.INTROSPECTION_AUDIENCE : 'any',
      signedIntrospection: config.INTROSPECTION_JWKS_FILE ?? (config.INTROSPECTION_JWKS_URL === undefined ? 'off' : maskUrl(config.INTROSPECTION_JWKS_URL)),
      tokenBinding: config.TOKEN_BINDING,
      verifiedTokenCache: jwtCache === undefined ? 'off' : { entries: config.TOKEN_CACHE_ENTRIES, maxSeconds: config.TOKEN_CACHE_MAX_SECONDS },
      introspectionCache: introspectionCache ?? 'off',
    },
    plainHttpUrls: [...new Set(tokenUrls.filter((url): url is string => url !== undefined && isPlainHttpRemote(url)).map(maskUrl))],
    keySets: () => keySetStates(remote),
    close: () => fetchers.forEach((fetcher) => fetcher.close()),
  };
}
