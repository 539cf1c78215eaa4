import { z } from 'zod';
import { keyCharacters, keyEntryProblem, maximumKeyLength, minimumKeyLength } from './caller/keys.js';
import { defaultClaimMapping } from './token/claims.js';
import { tokenBindingModes } from './token/binding.js';
import { defaultAuditRedact, defaultMaxRequestBytes } from './telemetry/audit.js';
import { maskPath } from './telemetry/mask.js';
import { parseHostPort } from './cache/address.js';
import { printable } from './printable.js';
import { algorithmProblem, defaultAlgorithms } from './token/verify.js';
import { isPlainHttpRemote, plainHttpProblem } from './token/plain-http.js';
import { audienceProblem } from './token/audience-name.js';
import { fetchPortProblem } from './token/fetch-ports.js';
import { secondUrlProblem } from './token/url-list.js';
import { claimNameProblem, subjectClaimName } from './token/claim-name.js';
import { rolePrefixProblem } from './token/role-prefix.js';
import { tokenType } from './token/token-type.js';
import { issuerName } from './token/issuer-name.js';
import { pdpIdentifierProblems } from './pdp-identifier.js';

/**
 * A comma-separated list; unset, `fallback`. One of commas and spaces alone is refused: read as no
 * entry it would mean no algorithm, no caller key or any audience, where blank means the default.
 */
const list = (fallback: readonly string[] = []) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return [...fallback];
      const entries = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
      // An issue pushed here keeps the entries for the cross-field checks below, which read every list.
      if (entries.length === 0) ctx.issues.push({ code: 'custom', message: 'lists no entry, only commas and spaces (unset it for the default)', input: value });
      return entries;
    });

/**
 * AUDIT_REDACT's paths: split on commas, except those inside a bracketed key's JSON string
 * (`subject.properties["https://idp.example/a,b"]`). A string left open runs to the end, so
 * the path holding it is refused rather than cut. `none` masks nothing; commas alone are refused
 * as for the other lists, as they would turn masking off without saying so.
 */
const auditPaths = (fallback: readonly string[]) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return [...fallback];
      if (value === 'none') return [];
      const paths = (value.match(/(?:"(?:[^"\\]|\\[\s\S]?)*"?|[^,"])+/g) ?? []).map((s) => s.trim()).filter((s) => s.length > 0);
      if (paths.length === 0) ctx.issues.push({ code: 'custom', message: 'lists no path, only commas and spaces (unset it for the defaults, or set it to none to mask nothing)', input: value });
      return paths;
    });

/**
 * Whether a redis:// URL parses as the client will read it: host, a port it can connect to, decodable credentials, and
 * one database number if any (its path or a `db` query value), which the client selects on
 * connecting: `/cache` was sent as `SELECT NaN`, whose error crashed the service once it served.
 * Named twice, the client takes the path's, else the query's last, not the one checked here:
 * `?db=1&db=one` ran on database 0.
 */
function isRedisUrl(value: string): boolean {
  try {
    const url = new URL(value);
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
    const dbs = [...(url.pathname.length > 1 ? [url.pathname.slice(1)] : []), ...url.searchParams.getAll('db')];
    // Port 0 parses, and the client connects to nothing there: Redis would be down for good.
    return url.hostname !== '' && url.port !== '0' && dbs.length <= 1 && dbs.every((db) => /^\d+$/.test(db));
  } catch {
    return false;
  }
}

/**
 * The query parameters of REDIS_URL that are taken: `db`, and `family` (0, the client's default,
 * for either IP version, 4 or 6), once (a `db` given twice is isRedisUrl's). ioredis reads every other one too, as a string
 * and over the settings the service gives it: `?enableOfflineQueue=false` would turn its queue
 * on (a non-empty string), `?commandTimeout=…` would outlast REDIS_COMMAND_TIMEOUT_MS.
 */
function unreadRedisQuery(value: string): string | undefined {
  let params: URLSearchParams;
  try {
    params = new URL(value).searchParams;
  } catch {
    return undefined;
  }
  for (const [key, setting] of params) {
    if (key === 'family' && !['0', '4', '6'].includes(setting)) return `query parameter family=${setting}: use 0 (either IP version), 4 or 6`;
    // Each value was checked, and the client took the last: `family=4&family=6` ran on IPv6 alone.
    if (key === 'family' && params.getAll(key).length > 1) return 'query parameter "family" is given more than once, of which the client takes the last: give it once';
    // A name with no value (`?<token>`) may be a credential, which maskUrl hides too: not quoted.
    const named = setting === '' ? 'a query parameter with no value' : `query parameter "${key}"`;
    if (key !== 'db' && key !== 'family') return `${named} is not taken: only db and family are; the client's other settings are the service's own`;
  }
  return undefined;
}

/**
 * A Redis node as a problem quotes it, without what may hold a credential: what comes before an
 * `@` (`redis://:<password>@host:6379`), and a path, query or fragment after the address
 * (`host:6379?password=…`), of which only the first character is kept.
 */
function quotedNode(node: string): string {
  return node.replace(/^.*@/s, '***@').replace(/^((?:[a-z][a-z\d+.-]*:\/\/)?[^/?#]*)([/?#]).*$/is, '$1$2***');
}

/** Whether a URL carries a user or password. */
function hasUserinfo(value: string): boolean {
  try {
    const url = new URL(value);
    return url.username !== '' || url.password !== '';
  } catch {
    return false;
  }
}

/**
 * A URL the token fetchers can ask: one http(s) URL without a user or password, on a port fetch
 * connects to. Node's fetch refuses a URL with credentials outright, and one on a port the Fetch
 * Standard blocks (6000, 10080, …), and reaches nothing on port 0, so each would deny every
 * token; `instead` says where credentials go. Whitespace around it is dropped, as the URL parser
 * does; within it, it is refused. A query string stays allowed (some key sets want an api_key)
 * and is masked.
 */
const fetchableUrl = (instead: string) =>
  z.string()
    // Read as one URL, `https://a/jwks https://b/jwks` was fetched as `https://a/jwks%20https://b/jwks`,
    // and a tab or line break within was dropped: either denied every token, or asked another URL than given.
    .refine((url) => !/\s/.test(url.trim()), 'holds whitespace, which no URL does (RFC 3986): give one URL, a space in it written %20')
    .pipe(z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }))
    .superRefine((url, ctx) => {
      const problem = secondUrlProblem(url, 'give one URL');
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
    })
    .refine((url) => !hasUserinfo(url), `must not carry a user or password (fetch refuses such a URL); ${instead}`)
    .superRefine((url, ctx) => {
      const problem = fetchPortProblem(url);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
    });

/** A key set URL, in the environment or in TOKEN_CONFIG_FILE. */
export const keySetUrl = fetchableUrl('a key set is fetched without credentials, though a query value such as ?api_key=… is allowed');

/**
 * Decimal digits as a number, one more than `max` for any number above it: read as it is, one
 * of 309 digits or more is Infinity, which the range check refused as no number at all rather
 * than naming the bound it crosses.
 */
const atMostAbove = (digits: string, max: number) => Math.min(Number(digits), max + 1);

/**
 * An integer setting between `min` and `max`, in decimal digits only: Number() would also take
 * `0x1F90` as 8080 and `1e3` as 1000, so a typo or a foreign notation would pass as a number.
 * Refused here, before its bounds are checked, `-1` is told the range, which it crosses as `70000` does.
 */
const integer = (min: number, max: number, fallback: number) =>
  z.string()
    .regex(/^\d+$/, `a whole number in decimal digits from ${String(min)} to ${String(max)}`)
    .transform((digits) => atMostAbove(digits, max))
    .pipe(z.number().min(min).max(max))
    .default(fallback);

/** Why an AUDIT_REDACT entry masks nothing, if it does not: it is checked with the parse masking uses. */
function auditPathProblem(path: string): string | undefined {
  return maskPath(path) === undefined ? 'a dotted path under subject, action, resource or context, e.g. subject.properties.email (a key holding dots in brackets: subject.properties["https://idp.example/email"])' : undefined;
}

/** The most server processes WORKERS may ask for, and the most `auto` or production's default runs. */
export const maxWorkers = 256;

const optionalText = z.string().optional();

/** The least either token fetch timeout may be. */
const minFetchTimeoutMs = 100;

/** The settings read as comma-separated lists. */
const listSettings = [
  'JWT_AUDIENCE', 'JWT_ALGORITHMS', 'INTROSPECTION_AUDIENCE', 'CLAIM_ROLES', 'CLAIM_SCOPES', 'CLAIM_ROLE_PREFIXES',
  'PDP_API_KEYS', 'PDP_TRUSTED_KEYS', 'PDP_ADMIN_KEYS', 'AUDIT_REDACT', 'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS',
] as const;

const envSchema = z
  .object({
    PORT: integer(0, 65_535, 8080),
    // A URL brackets an IPv6 address (`http://[::1]:8080`); the address alone has none, and
    // `[::1]` was only refused when listening, as a name that does not resolve.
    HOST: z.string()
      .refine((host) => !/^\[.*\]$/.test(host), 'an IPv6 address is written without brackets (::1, not [::1])')
      // Looked up as it was, such a HOST failed only when listening, in a line that printed its
      // line breaks and escape sequences as they were.
      .refine((host) => !/[\s\p{Cc}]/u.test(host), 'holds whitespace or a control character, which no host name or address does: give one name or address, the port in PORT')
      .default('0.0.0.0'),
    POLICY_DIR: z.string().default('./policies'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    MAX_BODY_BYTES: integer(1024, 16 * 1024 * 1024, 1024 * 1024),
    JWKS_FILE: optionalText,
    JWKS_URL: optionalText.pipe(keySetUrl.optional()),
    JWT_ISSUER: optionalText.pipe(issuerName.optional()),
    JWT_AUDIENCE: list(),
    JWT_ALGORITHMS: list(defaultAlgorithms),
    // Kept only to refuse it: HMAC is never accepted (algorithmProblem says why); `false` says as much.
    JWT_ALLOW_HMAC: z.literal('false', { error: 'HMAC is never accepted, whatever this says: remove JWT_ALLOW_HMAC and verify tokens with an asymmetric key set' }).optional(),
    JWT_CLOCK_TOLERANCE_SECONDS: integer(0, 300, 30),
    // RFC 9068 makes `exp` required in a JWT access token: one without it would never expire.
    JWT_REQUIRE_EXP: z.enum(['true', 'false']).default('true'),
    // The `typ` header JWT_ISSUER's tokens must carry, e.g. at+jwt (RFC 9068 §4): refuses its ID tokens.
    JWT_TYPE: optionalText.pipe(tokenType.optional()),
    // Tokens (several issuers, introspection, claim mapping, caches) and caller keys.
    TOKEN_CONFIG_FILE: optionalText,
    // A sender-constrained token (`cnf`) is refused unless the gateway in front checks its proof.
    TOKEN_BINDING: z.enum(tokenBindingModes).default('refuse'),
    TOKEN_MAX_LENGTH: integer(256, 16_384, 8_192),
    TOKEN_CACHE_ENTRIES: integer(0, 1_000_000, 10_000),
    TOKEN_CACHE_MAX_SECONDS: integer(1, 86_400, 300),
    JWKS_TIMEOUT_MS: integer(minFetchTimeoutMs, 60_000, 2_000),
    JWKS_COOLDOWN_SECONDS: integer(0, 3_600, 30),
    JWKS_REFRESH_SECONDS: integer(0, 86_400, 300),
    INTROSPECTION_URL: optionalText.pipe(fetchableUrl('give the client credentials with INTROSPECTION_CLIENT_ID and INTROSPECTION_CLIENT_SECRET').optional()),
    INTROSPECTION_CLIENT_ID: optionalText,
    INTROSPECTION_CLIENT_SECRET: optionalText,
    INTROSPECTION_TIMEOUT_MS: integer(minFetchTimeoutMs, 60_000, 2_000),
    INTROSPECTION_CACHE_MAX_SECONDS: integer(0, 86_400, 60),
    INTROSPECTION_JWKS_FILE: optionalText,
    INTROSPECTION_JWKS_URL: optionalText.pipe(keySetUrl.optional()),
    INTROSPECTION_JWT_ISSUER: optionalText.pipe(issuerName.optional()),
    INTROSPECTION_AUDIENCE: list(),
    // Plain http:// token URLs to hosts other than loopback are refused unless this is `true`.
    ALLOW_HTTP_TOKEN_URLS: z.enum(['true', 'false']).default('false'),
    CLAIM_SUBJECT: optionalText
      .pipe(subjectClaimName('CLAIM_ROLES and CLAIM_SCOPES').optional())
      .transform((value) => value ?? defaultClaimMapping.subject),
    CLAIM_ROLES: list(defaultClaimMapping.roles),
    CLAIM_SCOPES: list(defaultClaimMapping.scopes),
    CLAIM_ROLE_PREFIXES: list(),
    PDP_API_KEYS: list(),
    PDP_TRUSTED_KEYS: list(),
    PDP_ADMIN_KEYS: list(),
    // AuthZEN's PDP identifier: the base URL clients reach this service at (behind a proxy),
    // advertised exactly as written, so refused unless in canonical https form (pdp-identifier.ts).
    // Its path goes into the metadata's path and the endpoints' routes, so it is held to plain characters.
    // pdpIdentifierProblems tells a value that is no http(s) URL too, in one line: a URL schema
    // before it told it again as `Invalid URL`, of `ftp://…` as well.
    PUBLIC_URL: optionalText
      .superRefine((url, ctx) => {
        if (url === undefined) return;
        for (const message of pdpIdentifierProblems(url)) ctx.issues.push({ code: 'custom', message, input: url });
      }),
    // Seals AuthZEN search page tokens; shared by replicas so one opens another's tokens.
    PAGE_TOKEN_SECRET: optionalText.pipe(z.string().min(32, 'use at least 32 characters (e.g. openssl rand -base64 32)').optional()),
    POLICY_WATCH: z.enum(['true', 'false']).default('true'),
    POLICY_TESTS_ON_RELOAD: z.enum(['true', 'false']).default('false'),
    // A scraper sends it as a bearer credential, so it is held to what a caller key may be.
    METRICS_TOKEN: optionalText.pipe(
      z.string()
        .min(minimumKeyLength, `use at least ${minimumKeyLength} characters`)
        .max(maximumKeyLength, `use at most ${maximumKeyLength} characters`)
        .regex(keyCharacters, 'use printable ASCII without spaces or commas, as for caller keys (a space could never be sent in "Authorization: Bearer <token>")')
        .optional(),
    ),
    AUDIT_DECISIONS: z.enum(['all', 'deny', 'none']).default('all'),
    AUDIT_LOG_FILE: optionalText,
    AUDIT_MAX_REQUEST_BYTES: integer(1024, 1024 * 1024 * 1024, defaultMaxRequestBytes),
    AUDIT_REDACT: auditPaths(defaultAuditRedact),
    // Off by default: on small policy sets a hit costs more than evaluating (README, Decision cache).
    CACHE_MEMORY_ENTRIES: integer(0, 10_000_000, 0),
    CACHE_TTL_SECONDS: integer(1, 86_400, 30),
    CACHE_PREFIX: z.string().min(1).max(128).default('invoice-pdp:decision:'),
    REDIS_URL: optionalText.pipe(
      z.string()
        // Not that, it was told again as a URL without a host and the rest, which it may well have.
        .regex(/^rediss?:\/\/\S+$/, { error: 'must be a redis:// or rediss:// URL', abort: true })
        .refine(isRedisUrl, 'not a URL with a host, a port from 1 to 65535, percent-encoded credentials and one database number if any')
        .superRefine((value, ctx) => {
          const unread = unreadRedisQuery(value);
          if (unread !== undefined) ctx.addIssue({ code: 'custom', message: unread });
        })
        .optional(),
    ),
    REDIS_CLUSTER_NODES: list(),
    REDIS_SENTINELS: list(),
    REDIS_SENTINEL_NAME: optionalText,
    REDIS_SENTINEL_USERNAME: optionalText,
    REDIS_SENTINEL_PASSWORD: optionalText,
    REDIS_USERNAME: optionalText,
    REDIS_PASSWORD: optionalText,
    // TLS for Cluster and Sentinel (a standalone REDIS_URL asks for it with rediss://).
    REDIS_TLS: z.enum(['true', 'false']).default('false'),
    REDIS_TLS_CA_FILE: optionalText,
    // Signs Redis cache entries; shared by replicas so one reads another's entries.
    CACHE_SIGNING_SECRET: optionalText.pipe(z.string().min(32, 'use at least 32 characters (e.g. openssl rand -base64 32)').optional()),
    REDIS_COMMAND_TIMEOUT_MS: integer(1, 10_000, 20),
    REDIS_BACKOFF_MS: integer(10, 600_000, 1_000),
    // Server processes under node:cluster: a count or `auto` (one per core); see src/cluster.ts.
    WORKERS: optionalText.pipe(
      z.string().regex(/^(auto|\d+)$/, `a number of processes from 1 to ${String(maxWorkers)}, or "auto"`).optional()
        .transform((v) => (v === undefined || v === 'auto' ? v : atMostAbove(v, maxWorkers)))
        .pipe(z.union([z.literal('auto'), z.number().min(1).max(maxWorkers)]).optional()),
    ),
    REQUEST_TIMEOUT_MS: integer(10, 120_000, 5_000),
    SHUTDOWN_TIMEOUT_MS: integer(0, 300_000, 10_000),
    MAX_HEADER_BYTES: integer(1024, 1024 * 1024, 16_384),
    KEEP_ALIVE_TIMEOUT_MS: integer(1_000, 600_000, 65_000),
  })
  // `when` runs these checks even after a field above failed, so every problem shows at once.
  .superRefine((env, ctx) => {
    const keyed = env.JWKS_FILE !== undefined || env.JWKS_URL !== undefined;
    const issue = (path: string, message: string) =>
      ctx.issues.push({ code: 'custom', path: [path], message, input: env });
    if (env.JWKS_FILE !== undefined && env.JWKS_URL !== undefined) issue('JWKS_URL', 'set JWKS_FILE or JWKS_URL, not both');
    if (keyed && env.JWT_ISSUER === undefined) issue('JWT_ISSUER', 'required when a key set is configured');
    if (keyed && env.JWT_AUDIENCE.length === 0) issue('JWT_AUDIENCE', 'required when a key set is configured');
    // Without keys no issuer is set up, and every JWT would be denied as if none had been asked for.
    if (!keyed && (env.JWT_ISSUER !== undefined || env.JWT_AUDIENCE.length > 0)) issue('JWKS_FILE', 'JWT_ISSUER and JWT_AUDIENCE need JWKS_FILE or JWKS_URL');
    // It would check nothing, while it may be read as covering TOKEN_CONFIG_FILE's issuers too.
    if (!keyed && env.JWT_TYPE !== undefined) issue('JWT_TYPE', 'applies to the issuer of JWT_ISSUER, which needs JWKS_FILE or JWKS_URL; an issuer of TOKEN_CONFIG_FILE takes its own "type"');
    // An entry wrapped in quotes (`JWT_AUDIENCE=a,"b"`) is refused as a whole value wrapped in them
    // is (loadConfig): the quotes were taken as part of the audience, claim or key, which no token
    // or caller then matched. It is told that alone: the checks of an entry's content pass over it.
    for (const name of listSettings) {
      env[name].forEach((entry, index) => {
        if (isQuoted(entry)) issue(name, `entry ${index + 1}: is wrapped in quotes, which are read as part of the entry: remove them`);
      });
    }
    // A list drops the spaces around each entry; what it keeps is compared with a token's, or a
    // caller's key, as it is. A quoted entry was told above, alone.
    const entryChecks = [
      ['JWT_AUDIENCE', audienceProblem],
      ['INTROSPECTION_AUDIENCE', audienceProblem],
      ['CLAIM_ROLES', claimNameProblem],
      ['CLAIM_SCOPES', claimNameProblem],
      ['CLAIM_ROLE_PREFIXES', rolePrefixProblem],
      ['PDP_API_KEYS', keyEntryProblem],
      ['PDP_TRUSTED_KEYS', keyEntryProblem],
      ['PDP_ADMIN_KEYS', keyEntryProblem],
      ['AUDIT_REDACT', auditPathProblem],
    ] as const;
    for (const [name, problemOf] of entryChecks) {
      env[name].forEach((entry, index) => {
        const problem = isQuoted(entry) ? undefined : problemOf(entry);
        if (problem !== undefined) issue(name, `entry ${index + 1}: ${problem}`);
      });
    }
    for (const alg of env.JWT_ALGORITHMS) {
      const problem = isQuoted(alg) ? undefined : algorithmProblem(alg);
      if (problem !== undefined) issue('JWT_ALGORITHMS', problem);
    }
    if (env.INTROSPECTION_URL !== undefined && (env.INTROSPECTION_CLIENT_ID === undefined || env.INTROSPECTION_CLIENT_SECRET === undefined)) {
      issue('INTROSPECTION_CLIENT_ID', 'INTROSPECTION_CLIENT_ID and INTROSPECTION_CLIENT_SECRET are required with INTROSPECTION_URL');
    }
    // As JWT_ISSUER without keys: set alone (INTROSPECTION_URL misspelt, say), they would suggest
    // an introspection that is not there, and every opaque token would be denied.
    if (env.INTROSPECTION_URL === undefined) {
      const given = {
        INTROSPECTION_CLIENT_ID: env.INTROSPECTION_CLIENT_ID !== undefined,
        INTROSPECTION_CLIENT_SECRET: env.INTROSPECTION_CLIENT_SECRET !== undefined,
        INTROSPECTION_JWT_ISSUER: env.INTROSPECTION_JWT_ISSUER !== undefined,
        INTROSPECTION_AUDIENCE: env.INTROSPECTION_AUDIENCE.length > 0,
      };
      for (const [name, set] of Object.entries(given)) if (set) issue(name, 'applies to introspection: set INTROSPECTION_URL too');
    }
    const signedIntrospection = env.INTROSPECTION_JWKS_FILE !== undefined || env.INTROSPECTION_JWKS_URL !== undefined;
    if (env.INTROSPECTION_JWKS_FILE !== undefined && env.INTROSPECTION_JWKS_URL !== undefined) issue('INTROSPECTION_JWKS_URL', 'set INTROSPECTION_JWKS_FILE or INTROSPECTION_JWKS_URL, not both');
    if (signedIntrospection && env.INTROSPECTION_URL === undefined) issue('INTROSPECTION_URL', 'required when introspection keys are configured');
    if (signedIntrospection && env.INTROSPECTION_JWT_ISSUER === undefined) issue('INTROSPECTION_JWT_ISSUER', 'required when introspection keys are configured');
    // Without keys no answer is verified: it would seem to ask for signed answers while plain JSON ones are taken.
    if (!signedIntrospection && env.INTROSPECTION_URL !== undefined && env.INTROSPECTION_JWT_ISSUER !== undefined) {
      issue('INTROSPECTION_JWKS_FILE', 'INTROSPECTION_JWT_ISSUER needs INTROSPECTION_JWKS_FILE or INTROSPECTION_JWKS_URL: without keys, answers are not signed and plain JSON ones are taken');
    }
    if (env.ALLOW_HTTP_TOKEN_URLS !== 'true') {
      for (const name of ['JWKS_URL', 'INTROSPECTION_URL', 'INTROSPECTION_JWKS_URL'] as const) {
        const url = env[name];
        if (typeof url === 'string' && isPlainHttpRemote(url)) issue(name, plainHttpProblem);
      }
    }
    const redisModes = [env.REDIS_URL !== undefined, env.REDIS_CLUSTER_NODES.length > 0, env.REDIS_SENTINELS.length > 0];
    if (redisModes.filter(Boolean).length > 1) issue('REDIS_URL', 'set only one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS');
    if ((env.REDIS_SENTINELS.length > 0) !== (env.REDIS_SENTINEL_NAME !== undefined)) {
      issue('REDIS_SENTINEL_NAME', 'REDIS_SENTINELS and REDIS_SENTINEL_NAME go together');
    }
    // It signs Redis entries only: set without Redis it would protect nothing, while seeming to.
    if (env.CACHE_SIGNING_SECRET !== undefined && !redisModes.some(Boolean)) issue('CACHE_SIGNING_SECRET', 'signs the Redis cache entries: set REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS too');
    const redisCredentials = env.REDIS_USERNAME !== undefined || env.REDIS_PASSWORD !== undefined;
    if (env.REDIS_URL !== undefined && redisCredentials) {
      issue('REDIS_PASSWORD', 'with REDIS_URL, put the credentials in the URL (redis://user:password@host:port)');
    }
    // As CACHE_SIGNING_SECRET: set alone, they would suggest a Redis cache that is not there.
    if (!redisModes.some(Boolean) && redisCredentials) {
      issue(env.REDIS_PASSWORD !== undefined ? 'REDIS_PASSWORD' : 'REDIS_USERNAME', 'credentials of the Redis nodes: set REDIS_CLUSTER_NODES or REDIS_SENTINELS too, or REDIS_URL with the credentials in it');
    }
    if (env.REDIS_SENTINELS.length === 0 && (env.REDIS_SENTINEL_USERNAME !== undefined || env.REDIS_SENTINEL_PASSWORD !== undefined)) {
      issue(env.REDIS_SENTINEL_PASSWORD !== undefined ? 'REDIS_SENTINEL_PASSWORD' : 'REDIS_SENTINEL_USERNAME', 'credentials of the Sentinels: set REDIS_SENTINELS too');
    }
    if (env.REDIS_TLS === 'true' && env.REDIS_URL !== undefined) issue('REDIS_TLS', 'with REDIS_URL, ask for TLS with rediss://');
    else if (env.REDIS_TLS === 'true' && !redisModes.some(Boolean)) issue('REDIS_TLS', 'applies to REDIS_CLUSTER_NODES and REDIS_SENTINELS: set one of them too');
    if (env.REDIS_TLS_CA_FILE !== undefined && env.REDIS_TLS !== 'true' && env.REDIS_URL?.startsWith('rediss://') !== true) {
      issue('REDIS_TLS_CA_FILE', 'the CAs of Redis\'s TLS certificates: set REDIS_TLS=true, or a rediss:// REDIS_URL');
    }
    for (const [name, nodes] of [['REDIS_CLUSTER_NODES', env.REDIS_CLUSTER_NODES], ['REDIS_SENTINELS', env.REDIS_SENTINELS]] as const) {
      for (const node of nodes) if (!isQuoted(node) && parseHostPort(node, 1) === undefined) issue(name, `"${quotedNode(node)}" is not a host:port`);
    }
    // A lookup that waits out the Redis deadline must leave the request the time to be
    // evaluated and answered; otherwise a Redis outage turns every request into a 503.
    if (redisModes.some(Boolean) && env.REDIS_COMMAND_TIMEOUT_MS * 2 > env.REQUEST_TIMEOUT_MS) {
      issue('REDIS_COMMAND_TIMEOUT_MS', `${env.REDIS_COMMAND_TIMEOUT_MS} ms is more than half of REQUEST_TIMEOUT_MS (${env.REQUEST_TIMEOUT_MS} ms): a request that waits out a Redis timeout must keep the other half to verify its token, be evaluated and be answered`);
    }
    // Likewise a token whose fetches time out (tokenFetchProblem). A jwksUrl of
    // TOKEN_CONFIG_FILE, not read yet, is held to it when the file is (token/from-config.ts).
    for (const [name, used] of [['JWKS_TIMEOUT_MS', env.JWKS_URL], ['INTROSPECTION_TIMEOUT_MS', env.INTROSPECTION_URL]] as const) {
      const fetchMs = env[name];
      const problem = used === undefined || typeof fetchMs !== 'number' || typeof env.REQUEST_TIMEOUT_MS !== 'number' ? undefined : tokenFetchProblem(name, fetchMs, env.REQUEST_TIMEOUT_MS);
      if (problem !== undefined) issue(name, problem);
    }
  }, { when: () => true });

export type Config = z.infer<typeof envSchema>;

/** The name of every setting read from the environment. */
export const settingNames: readonly string[] = Object.keys(envSchema.shape);

/**
 * Why a token fetch timeout (JWKS_TIMEOUT_MS, INTROSPECTION_TIMEOUT_MS) does not fit the request
 * deadline, or undefined when it does: a token whose fetch times out must be denied
 * (invalid_token) with the other half of the request's time left, not cut off by a 503 timeout.
 * A JWT waits on one key set fetch at most; an opaque token on one lookup, whose
 * INTROSPECTION_TIMEOUT_MS also bounds the wait for a signed answer's keys (introspect.ts).
 */
export function tokenFetchProblem(name: string, fetchMs: number, requestTimeoutMs: number): string | undefined {
  if (fetchMs * 2 <= requestTimeoutMs) return undefined;
  const most = Math.floor(requestTimeoutMs / 2);
  // Both are at most 60 s, so the REQUEST_TIMEOUT_MS asked for is never over its 120 s.
  const remedy = most < minFetchTimeoutMs
    ? `raise REQUEST_TIMEOUT_MS to at least ${fetchMs * 2} ms (${name} is at least ${minFetchTimeoutMs} ms)`
    : `lower ${name} to at most ${most} ms or raise REQUEST_TIMEOUT_MS to at least ${fetchMs * 2} ms`;
  return `${fetchMs} ms is more than half of REQUEST_TIMEOUT_MS (${requestTimeoutMs} ms): a token whose fetch times out must be denied (invalid_token) with the other half left to be evaluated and answered, not cut off by a 503 timeout; ${remedy}`;
}

/** Thrown with every configuration problem at once. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parses the environment once at start; reports every problem, not just the first. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Each value is read without the spaces around it, or the `\r` of a .env file written on
  // Windows: `LOG_LEVEL=warn ` as `warn`, not refused as no level. A variable set to blank
  // (`PORT=`, `LOG_LEVEL= `) counts as unset, whatever it holds: its default applies, where a
  // number would read 0 and a name would be refused.
  const given = Object.fromEntries(
    Object.entries(env).flatMap(([name, value]) => (value === undefined || value.trim() === '' ? [] : [[name, value.trim()]])),
  );
  const quoted = settingNames.filter((name) => isQuoted(given[name]));
  const blank = guardSettings.filter((name) => isWhitespaceAlone(env[name]));
  const parsed = envSchema.safeParse(given);
  if (parsed.success && quoted.length === 0 && blank.length === 0) return parsed.data;
  // A quoted setting is told that alone: what its value is refused for beside it comes of the quotes.
  const issues = parsed.success ? [] : parsed.error.issues.filter((i) => !quoted.includes(String(i.path[0])));
  const lines = [
    ...blank.map((name) => `  ${name}: holds whitespace alone, which would count as unset and leave open what it protects: give its value, or leave the variable out to unset it`),
    ...quoted.map((name) => `  ${name}: is wrapped in quotes, which are read as part of the value: remove them (docker run --env-file keeps the quotes of an env file)`),
    ...issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${printable(i.message)}`),
  ];
  throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
}

/**
 * The settings whose absence leaves something open, each warned of at start or documented as open:
 * unsigned Redis entries, an open /metrics, decision endpoints that take every caller. Trusted keys
 * alone turn caller authentication on as API keys do (a service whose callers all state subjects).
 */
const guardSettings = ['CACHE_SIGNING_SECRET', 'METRICS_TOKEN', 'PDP_API_KEYS', 'PDP_TRUSTED_KEYS'] as const;

/**
 * The guard settings set empty (`CACHE_SIGNING_SECRET=`, or the lone line ending of a .env file
 * written on Windows): unset, as any blank value, but a secret given empty is most likely lost on
 * its way (a Kubernetes secret or a template value that rendered empty), which the start-up log
 * then tells apart from one left out.
 */
export function emptyGuardSettings(env: NodeJS.ProcessEnv): string[] {
  return guardSettings.filter((name) => {
    const value = env[name];
    return value !== undefined && value.trim() === '' && !isWhitespaceAlone(value);
  });
}

/**
 * Whether a value holds whitespace and nothing else, other than the line ending alone that an empty
 * value of a .env file written on Windows leaves: read as unset like any blank value, a guard
 * setting of spaces (a secret lost in templating, `"   "`) left open what the operator took as guarded.
 */
function isWhitespaceAlone(value: string | undefined): boolean {
  return value !== undefined && value.trim() === '' && /[^\r\n]/.test(value);
}

/**
 * Whether a value is wrapped in one kind of quotes, `"invoice-api"` or `'realm_access.roles'`:
 * docker run --env-file keeps them, and a name was then taken with them, which no token's
 * audience or claim equals, and a caller key that no caller sends.
 */
function isQuoted(value: string | undefined): boolean {
  return value !== undefined && value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0]);
}
