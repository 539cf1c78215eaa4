import type { Config } from '../config.js';
import { createJwtVerifier, localKeySet, remoteKeySet, type TokenVerifier } from './verify.js';

/** The token verifier the configuration asks for, or undefined when no key set is configured. */
export async function tokenVerifierFromConfig(config: Config): Promise<TokenVerifier | undefined> {
  const keys = config.JWKS_FILE !== undefined
    ? await localKeySet(config.JWKS_FILE)
    : config.JWKS_URL !== undefined
      ? remoteKeySet(config.JWKS_URL)
      : undefined;
  if (keys === undefined || config.JWT_ISSUER === undefined) return undefined;
  return createJwtVerifier({
    keys,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    algorithms: config.JWT_ALGORITHMS,
    clockTolerance: config.JWT_CLOCK_TOLERANCE_SECONDS,
  });
}
