import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { UsageError, type Io } from './io.js';

const alg = 'ES256';

/**
 * Makes an ES256 key pair for local development and testing: `dir/jwks.json` (the public
 * key set, for JWKS_FILE) and `dir/private.jwk.json` (owner-only). Never overwrites a key.
 */
export async function writeDevKeys(dir: string): Promise<{ jwks: string; privateKey: string; kid: string }> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const paths = { jwks: join(dir, 'jwks.json'), privateKey: join(dir, 'private.jwk.json') };
  await mkdir(dir, { recursive: true });
  const exclusive = { flag: 'wx' } as const;
  await writeFile(paths.privateKey, `${JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg, use: 'sig' }, null, 2)}\n`, { ...exclusive, mode: 0o600 });
  await writeFile(paths.jwks, `${JSON.stringify({ keys: [{ ...publicJwk, kid, alg, use: 'sig' }] }, null, 2)}\n`, exclusive);
  return { ...paths, kid };
}

export interface DevTokenOptions {
  readonly keyFile: string;
  readonly issuer: string;
  readonly audience: string;
  readonly claims: Record<string, unknown>;
  readonly ttlSeconds: number;
}

/** Signs a JWT with a private JWK written by `writeDevKeys`. */
export async function signDevToken(options: DevTokenOptions): Promise<string> {
  let jwk: JWK;
  try {
    jwk = JSON.parse(await readFile(options.keyFile, 'utf8')) as JWK;
  } catch (error) {
    if (error instanceof SyntaxError) throw new UsageError(`${options.keyFile} is not a JWK: ${error.message}`);
    throw error;
  }
  if (typeof jwk !== 'object' || jwk === null || typeof jwk.d !== 'string') throw new UsageError(`${options.keyFile} holds no private key`);
  const key = await importJWK(jwk, jwk.alg ?? alg);
  return new SignJWT(options.claims)
    .setProtectedHeader({ alg: jwk.alg ?? alg, typ: 'JWT', ...(jwk.kid !== undefined && { kid: jwk.kid }) })
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setIssuedAt()
    .setExpirationTime(`${options.ttlSeconds}s`)
    .sign(key);
}

/** `pdp token --key FILE --iss ISSUER --aud AUDIENCE [--claims JSON] [--ttl SECONDS]` as options. */
export function parseTokenArgs(args: readonly string[]): DevTokenOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        key: { type: 'string' },
        iss: { type: 'string' },
        aud: { type: 'string' },
        claims: { type: 'string', default: '{}' },
        ttl: { type: 'string', default: '3600' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { key, iss, aud, claims, ttl } = values;
  if (key === undefined || iss === undefined || aud === undefined) throw new UsageError('token needs --key, --iss and --aud');
  let parsed: unknown;
  try {
    parsed = JSON.parse(claims);
  } catch (error) {
    throw new UsageError(`--claims is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError('--claims must be a JSON object');
  if (!/^[1-9]\d{0,8}$/.test(ttl)) throw new UsageError('--ttl must be a positive whole number of seconds');
  return { keyFile: key, issuer: iss, audience: aud, claims: parsed as Record<string, unknown>, ttlSeconds: Number(ttl) };
}

/** An fs failure such as a missing key file or a key that exists already (`EEXIST`). */
function isFileError(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string' && (error as NodeJS.ErrnoException).syscall !== undefined;
}

/** Runs a command, reporting a file failure as one line and exit code 1. */
async function withFileErrors(io: Io, run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (error) {
    if (!isFileError(error)) throw error;
    io.err(`pdp: ${error.message}`);
    return 1;
  }
}

/** `pdp keys DIR`: a development key pair. */
export async function keysCommand(args: readonly string[], io: Io): Promise<number> {
  const [dir, ...extra] = args;
  if (dir === undefined || extra.length > 0) throw new UsageError('keys needs exactly one directory');
  return withFileErrors(io, async () => {
    const written = await writeDevKeys(dir);
    io.out(`wrote ${written.jwks} and ${written.privateKey} (ES256, kid ${written.kid})`);
    return 0;
  });
}

/** `pdp token --key FILE --iss ISSUER --aud AUDIENCE [--claims JSON] [--ttl SECONDS]`: a signed JWT. */
export async function tokenCommand(args: readonly string[], io: Io): Promise<number> {
  const options = parseTokenArgs(args);
  return withFileErrors(io, async () => {
    io.out(await signDevToken(options));
    return 0;
  });
}
