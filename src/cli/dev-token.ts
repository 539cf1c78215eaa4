import { parseArgs } from 'node:util';
import { compactVerify, importJWK, SignJWT, type JWK, type JWTVerifyGetKey } from 'jose';
import type { Config } from '../config.js';
import { isJsonObject } from '../json-object.js';
import { findLimitViolation, jsonLimits } from '../json-limits.js';
import { parseSource } from '../json-source.js';
import { jsonPath } from '../policy/json-path.js';
import { readRegularFile } from '../regular-file.js';
import { audienceProblem } from '../token/audience-name.js';
import { claimAt } from '../token/claims.js';
import { tokenSettingsFromConfig, type IssuerTerms } from '../token/from-config.js';
import { issuerProblem } from '../token/issuer-name.js';
import { hasAudience, neverValid, withCandidateKeys } from '../token/verify.js';
import { devKeyAlg } from './dev-keys.js';
import { InputError, optionError, refuseRepeatedValues, serverConfig, UsageError, withLoadErrors, type Io } from './io.js';
import { commandOptions } from './options.js';

interface DevTokenOptions {
  readonly keyFile: string;
  readonly issuer: string;
  readonly audience: string;
  readonly claims: Record<string, unknown>;
  readonly ttlSeconds: number;
}

/** The claims a flag sets; `--claims` naming one would be overridden without a word. */
const flagClaims: Readonly<Record<string, string>> = { iss: '--iss', aud: '--aud', exp: '--ttl', iat: '--ttl' };

/** A JWK is well under a kilobyte; a device or a large file is no key, and is not read. */
const maxKeyFileBytes = 64 * 1024;

/** `pdp token --key FILE --iss ISSUER --aud AUDIENCE --claims JSON [--ttl SECONDS]` as options. */
function parseTokenArgs(args: readonly string[]): DevTokenOptions {
  const options = { ...commandOptions.token, ttl: { ...commandOptions.token.ttl, default: '3600' } } as const;
  let given;
  try {
    given = parseArgs({ args: [...args], options, strict: true, allowPositionals: false, tokens: true });
  } catch (error) {
    throw optionError(error);
  }
  refuseRepeatedValues(given.tokens, options);
  const { key, iss, aud, claims, ttl } = given.values;
  // A token without claims names no subject, which the server denies: --claims is required too.
  if (key === undefined || iss === undefined || aud === undefined || claims === undefined) throw new UsageError('token needs --key, --iss, --aud and --claims');
  // The server requires an issuer and an audience (JWT_ISSUER, JWT_AUDIENCE, TOKEN_CONFIG_FILE), none of them empty.
  if (iss === '' || aud === '') throw new UsageError('--iss and --aud must not be empty: no server accepts a token with an empty issuer or audience');
  // Nor one no setting of it can equal: it refuses such a JWT_ISSUER or JWT_AUDIENCE at start.
  for (const [flag, problem] of [['--iss', issuerProblem(iss)], ['--aud', audienceProblem(aud)]] as const) {
    if (problem !== undefined) throw new UsageError(`${flag}: ${problem}`);
  }
  // Read as `pdp check` reads a request: by line and column when it is not JSON, and a key written
  // twice or a number a double does not hold refused, as either would be signed as another value.
  const source = parseSource(claims, jsonLimits);
  if (!('value' in source)) throw new UsageError(`--claims at ${source.path}: ${source.message}`);
  const parsed = source.value;
  if (!isJsonObject(parsed)) throw new UsageError('--claims must be a JSON object');
  const owned = Object.keys(flagClaims).filter((claim) => Object.hasOwn(parsed, claim));
  if (owned.length > 0) {
    throw new UsageError(`--claims must not set ${owned.join(', ')}: ${owned.map((claim) => `${claim} comes from ${flagClaims[claim]}`).join(', ')}`);
  }
  if (!/^[1-9]\d{0,8}$/.test(ttl)) throw new UsageError('--ttl must be a positive whole number of seconds');
  return { keyFile: key, issuer: iss, audience: aud, claims: parsed as Record<string, unknown>, ttlSeconds: Number(ttl) };
}

/** The signing key in `file`, as `pdp keys` writes it; anything else is refused in one line. */
async function readPrivateKey(file: string): Promise<{ key: Awaited<ReturnType<typeof importJWK>>; kid: string | undefined }> {
  const unusable = (reason: string) => new InputError(`${file} is not a usable ES256 private JWK: ${reason}`);
  let jwk: unknown;
  try {
    jwk = JSON.parse((await readRegularFile(file, maxKeyFileBytes)).toString('utf8'));
  } catch (error) {
    throw unusable((error as Error).message);
  }
  if (!isJsonObject(jwk)) throw unusable('not a JSON object');
  if (typeof jwk['d'] !== 'string') throw unusable('it holds no private key ("d")');
  if (jwk['alg'] !== undefined && jwk['alg'] !== devKeyAlg) throw unusable(`its "alg" is ${JSON.stringify(jwk['alg'])}`);
  try {
    return { key: await importJWK(jwk as JWK, devKeyAlg), kid: typeof jwk['kid'] === 'string' ? jwk['kid'] : undefined };
  } catch (error) {
    throw unusable((error as Error).message);
  }
}

/** `values` quoted and listed, as a refusal names what the server accepts. */
const listed = (values: readonly string[]) => values.map((value) => JSON.stringify(value)).join(', ');

/**
 * Why the server would deny every token of `options` for its issuer, audience or algorithm,
 * whatever the key set: an issuer it does not verify while it verifies some, a signature
 * algorithm the issuer's tokens may not use, an audience claim naming none of the issuer's.
 * Where it verifies no issuer, a JWT is introspected or denied whatever it says: no refusal.
 */
function issuerRefusal(options: DevTokenOptions, issuers: ReadonlyMap<string, IssuerTerms>): string | undefined {
  if (issuers.size === 0) return undefined;
  const terms = issuers.get(options.issuer);
  if (terms === undefined) {
    const of = (setting: IssuerTerms['setting']) => [...issuers].filter(([, t]) => t.setting === setting).map(([issuer]) => issuer);
    const accepted = (['JWT_ISSUER', 'TOKEN_CONFIG_FILE'] as const).filter((setting) => of(setting).length > 0).map((setting) => `${listed(of(setting))} (${setting})`);
    return `--iss ${JSON.stringify(options.issuer)} is not an issuer the server accepts, which it denies (invalid_token): it accepts ${accepted.join(', ')}`;
  }
  const from = JSON.stringify(options.issuer);
  if (!terms.algorithms.includes(devKeyAlg)) {
    return `--key signs ${devKeyAlg}, which the server does not accept from ${from}, and denies the token (invalid_token): it accepts ${terms.algorithms.join(', ')}`;
  }
  if (terms.audienceClaim === undefined) {
    if (terms.audience.includes(options.audience)) return undefined;
    return `--aud ${JSON.stringify(options.audience)} is not an audience the server accepts from ${from}, which it denies (invalid_token): it accepts ${listed(terms.audience)}`;
  }
  const { claim: name, setting } = terms.audienceClaim;
  const claim = claimAt(options.claims, name);
  if (hasAudience(claim, terms.audience)) return undefined;
  // The claim as the setting names it and the server's denial quotes it (`claim "ext.client_id" invalid`):
  // as a JSON path, a dotted name read as a key holding dots (`$["ext.client_id"]`), not as the path it is.
  const checked = `(${setting}, not "aud"), and denies the token (invalid_token): it accepts ${listed(terms.audience)}`;
  if (claim === undefined) return `--claims holds no claim ${JSON.stringify(name)}${nestedForm(name)}, where the server checks the audience of ${from} ${checked}`;
  return `--claims: ${JSON.stringify(claim)} in claim ${JSON.stringify(name)} is not an audience the server accepts from ${from}, which it checks there ${checked}`;
}

/** For a dotted claim name, the claims it reads as a path: ` (a dotted path: {"ext": {"client_id": …}})`. */
function nestedForm(name: string): string {
  const names = name.split('.');
  if (names.length === 1) return '';
  return ` (a dotted path: ${names.reduceRight((inner, key) => `{${JSON.stringify(key)}: ${inner}}`, '…')})`;
}

/**
 * Whether a key of `keys` checks the signature of `token`, found as the server finds it: by its
 * `kid`, or among the first keys fitting its algorithm when it has none (see verifyWithKeySet).
 * The signature alone: its claims are held to the server's checks before it is signed.
 */
function checksSignature(token: string, keys: JWTVerifyGetKey): Promise<boolean> {
  const options = { algorithms: [devKeyAlg] };
  return withCandidateKeys(() => compactVerify(token, keys, options), (key) => compactVerify(token, key, options)).then(() => true, () => false);
}

/**
 * Why the server would deny the token at every moment for the `nbf` in --claims, if it would:
 * not a number, or not before the token expires, JWT_CLOCK_TOLERANCE_SECONDS allowed on both
 * (see `neverValid`). An `nbf` within the token's lifetime is taken: it is valid from then.
 */
function notBeforeRefusal(claims: { readonly nbf?: unknown; readonly exp: number }, ttlSeconds: number, toleranceSeconds: number): string | undefined {
  const { nbf, exp } = claims;
  if (nbf === undefined) return undefined;
  if (typeof nbf !== 'number') return `--claims at $.nbf: ${JSON.stringify(nbf)} is not a number (a NumericDate, seconds since 1970), which the server denies (invalid_token)`;
  if (!neverValid(nbf, exp, toleranceSeconds)) return undefined;
  const latest = exp + 2 * toleranceSeconds;
  return `--claims at $.nbf: ${nbf} is not before the token expires (exp ${exp}, --ttl ${ttlSeconds}), JWT_CLOCK_TOLERANCE_SECONDS (${toleranceSeconds}) allowed on both, so the server denies it at every moment (invalid_token): give an nbf below ${latest}, or a longer --ttl`;
}

/**
 * Signs a JWT with a private JWK written by `pdp keys`, refusing one the server configured by
 * `config` would deny: an issuer, audience or algorithm it does not accept of it (see
 * `issuerRefusal`), an `nbf` leaving it valid at no moment (see `notBeforeRefusal`), no subject,
 * claims beyond the JSON limits, a `cnf` it refuses (TOKEN_BINDING), a key not in the issuer's
 * key file, or longer than TOKEN_MAX_LENGTH. Its `typ` is the one the server requires of that
 * issuer, if any.
 */
async function signDevToken(options: DevTokenOptions, config: Config): Promise<string> {
  const { key, kid } = await readPrivateKey(options.keyFile);
  const settings = await tokenSettingsFromConfig(config);
  const refusal = issuerRefusal(options, settings.issuers);
  if (refusal !== undefined) throw new InputError(refusal);
  const now = Math.floor(Date.now() / 1000);
  // The payload as signed: `iat` and `exp` count towards the limits too (1,000 members).
  const claims = { ...options.claims, iss: options.issuer, aud: options.audience, iat: now, exp: now + options.ttlSeconds };
  const nbfRefusal = notBeforeRefusal(claims, options.ttlSeconds, config.JWT_CLOCK_TOLERANCE_SECONDS);
  if (nbfRefusal !== undefined) throw new InputError(nbfRefusal);
  const overLimit = findLimitViolation(claims);
  if (overLimit !== undefined) throw new InputError(`--claims at ${jsonPath(overLimit.path)}: ${overLimit.message}, which the server denies (invalid_token)`);
  if (settings.claims(claims).id === '') {
    const subject = settings.issuers.get(options.issuer)?.subject ?? { claim: config.CLAIM_SUBJECT, setting: 'CLAIM_SUBJECT' };
    const by = subject.setting === 'CLAIM_SUBJECT' ? 'CLAIM_SUBJECT' : `${subject.setting}, for ${JSON.stringify(options.issuer)}`;
    throw new InputError(`the token names no subject, which the server denies (invalid_token): set the subject claim in --claims to a string that is not empty or blank (${JSON.stringify(subject.claim)} by ${by})`);
  }
  const bound = settings.binding(claims);
  if (bound !== undefined) throw new InputError(`the server would deny this token (invalid_token): ${bound}`);
  const token = await new SignJWT(options.claims)
    .setProtectedHeader({ alg: devKeyAlg, typ: settings.issuers.get(options.issuer)?.type ?? 'JWT', ...(kid !== undefined && { kid }) })
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setIssuedAt(now)
    .setExpirationTime(now + options.ttlSeconds)
    .sign(key);
  const keyFile = settings.issuers.get(options.issuer)?.keyFile;
  if (keyFile !== undefined && !(await checksSignature(token, keyFile.keys))) {
    throw new InputError(`--key ${options.keyFile}${kid === undefined ? '' : ` (kid ${kid})`} is no key of the key set the server checks tokens of ${JSON.stringify(options.issuer)} with (${keyFile.path}, ${keyFile.setting}), which denies the token (invalid_token)`);
  }
  if (token.length > config.TOKEN_MAX_LENGTH) {
    throw new InputError(`the token is ${token.length} characters, over TOKEN_MAX_LENGTH (${config.TOKEN_MAX_LENGTH}), which the server denies (invalid_token)`);
  }
  return token;
}

/**
 * `pdp token --key FILE --iss ISSUER --aud AUDIENCE --claims JSON [--ttl SECONDS]`: a signed JWT,
 * checked against the settings the server reads from the same environment.
 */
export async function tokenCommand(args: readonly string[], io: Io): Promise<number> {
  const options = parseTokenArgs(args);
  return withLoadErrors(io, false, async () => {
    io.out(await signDevToken(options, serverConfig(io)));
    return 0;
  });
}
