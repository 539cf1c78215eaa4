import { createLocalJWKSet, importJWK, type JSONWebKeySet, type JWK } from 'jose';

/** Largest key set read, from a file or a URL. */
export const maxKeySetBytes = 512 * 1024;

/**
 * Most keys a key set may list. Each is imported as it is read, at up to 1.4 ms a key (a P-521
 * key under Node 20, 90 µs under Node 26), with the event loop held throughout: 512 KiB holds
 * 2,100 such keys, and a fetch of them held it for seconds, at start, at each refresh and at
 * each unknown kid's refetch. Identity providers list a handful.
 */
export const maxKeySetKeys = 64;

/** A key set listing more than `maxKeySetKeys` keys: refused whole, none of them imported. */
export class KeyCountError extends Error {
  override readonly name = 'KeyCountError';
}

/** The public members each key type needs to verify a signature. */
const publicMembers: Readonly<Record<string, readonly string[]>> = { RSA: ['n', 'e'], EC: ['crv', 'x', 'y'], OKP: ['crv', 'x'] };

/**
 * Whether `key` is for signatures (RFC 7517 §4.2, §4.3: `use` absent or `sig`, `key_ops` absent or
 * holding `verify`, as jose picks keys from a set) and has the public members its type needs.
 */
function isSigningKey(key: JWK): boolean {
  const needed = typeof key.kty === 'string' ? publicMembers[key.kty] : undefined;
  const entries = key as Record<string, unknown>;
  const verifies = key.key_ops === undefined || (Array.isArray(key.key_ops) && key.key_ops.includes('verify'));
  return needed !== undefined && (key.use === undefined || key.use === 'sig') && verifies && needed.every((m) => typeof entries[m] === 'string' && entries[m] !== '');
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
 * among a token's candidate keys, would stop the search for one that fits. None may be left.
 * Throws KeyCountError for a set of more than `maxKeySetKeys` keys.
 */
export async function usableKeys(document: unknown): Promise<JSONWebKeySet> {
  // Checks the document's shape (a `keys` array of objects) before its keys are read.
  createLocalJWKSet(document as JSONWebKeySet);
  const { keys } = document as JSONWebKeySet;
  if (keys.length > maxKeySetKeys) throw new KeyCountError(`lists ${keys.length} keys, more than the ${maxKeySetKeys} read`);
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
export function noKeyForAlgorithms(keys: readonly JWK[], algorithms: readonly string[]): string | undefined {
  if (keys.some((key) => algorithms.some((alg) => fitsAlgorithm(key, alg)))) return undefined;
  return `no key for the accepted algorithms (${algorithms.join(', ')}): RS* and PS* take an RSA key, ES256, ES384 and ES512 an EC key on P-256, P-384 and P-521, EdDSA and Ed25519 an Ed25519 key, each only if its "alg" is absent or the same`;
}
