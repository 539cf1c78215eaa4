import { mkdir, open, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { InputError, positionalArgs, UsageError, type Io } from './io.js';
import { printable } from '../printable.js';

/** The one algorithm of development keys and tokens. */
export const devKeyAlg = 'ES256';

/** Creates `path` for writing, failing when it exists: a key is never overwritten. */
async function createExclusive(path: string, mode?: number): Promise<FileHandle> {
  try {
    return await open(path, 'wx', mode);
  } catch (error) {
    const exists = (error as NodeJS.ErrnoException).code === 'EEXIST';
    throw new InputError(`${path} ${exists ? 'exists already' : `cannot be created: ${(error as Error).message}`}; nothing was written`);
  }
}

/**
 * `dir` and the folders above it that are missing, as `mkdir -p`. Node 20's recursive mkdir
 * loops for good where mkdir answers ENOENT under a folder that exists (`/proc/x`): here each
 * missing folder is made once, from the highest down, and any other failure is thrown.
 */
async function makeDirs(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let path = dir; ; path = dirname(path)) {
    try {
      await mkdir(path);
      break;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && path !== dir) break;
      if (code === 'EEXIST') {
        // A folder there already is what was asked for; a file there fails the next step.
        if ((await stat(dir)).isDirectory()) return;
        throw error;
      }
      if (code !== 'ENOENT' || dirname(path) === path) throw error;
      missing.push(path);
    }
  }
  for (const path of missing.reverse()) await mkdir(path);
}

/**
 * Makes an ES256 key pair for local development and testing: `dir/jwks.json` (the public key
 * set, for JWKS_FILE) and `dir/private.jwk.json` (owner-only). Both files are created, each only
 * if it does not exist, before either is written, and removed again when anything fails: a
 * private key is never left beside a key set it does not match.
 */
async function writeDevKeys(dir: string): Promise<{ jwks: string; privateKey: string; kid: string }> {
  const { publicKey, privateKey } = await generateKeyPair(devKeyAlg, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const paths = { jwks: join(dir, 'jwks.json'), privateKey: join(dir, 'private.jwk.json') };
  try {
    await makeDirs(dir);
  } catch (error) {
    throw new InputError(`cannot create ${dir}: ${(error as Error).message}`);
  }
  const privateFile = await createExclusive(paths.privateKey, 0o600);
  let jwksFile: FileHandle | undefined;
  try {
    jwksFile = await createExclusive(paths.jwks);
    await privateFile.writeFile(`${JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg: devKeyAlg, use: 'sig' }, null, 2)}\n`);
    await jwksFile.writeFile(`${JSON.stringify({ keys: [{ ...publicJwk, kid, alg: devKeyAlg, use: 'sig' }] }, null, 2)}\n`);
  } catch (error) {
    await rm(paths.privateKey, { force: true });
    if (jwksFile !== undefined) await rm(paths.jwks, { force: true });
    if (error instanceof InputError) throw error;
    throw new InputError(`cannot write the keys in ${dir}: ${(error as Error).message}; nothing was kept`);
  } finally {
    await privateFile.close();
    await jwksFile?.close();
  }
  return { ...paths, kid };
}

/** `pdp keys DIR`: a development key pair. */
export async function keysCommand(args: readonly string[], io: Io): Promise<number> {
  const [dir, ...extra] = positionalArgs(args);
  if (dir === undefined || extra.length > 0) throw new UsageError('keys needs exactly one directory');
  const written = await writeDevKeys(dir);
  io.out(`wrote ${printable(written.jwks)} and ${printable(written.privateKey)} (ES256, kid ${written.kid})`);
  return 0;
}
