/**
 * Told the outcome of every token verification attempt, including attempts answered from a
 * cache (reported with the cached outcome). `error` means the token could not be checked
 * (key set or introspection endpoint unavailable), `invalid` that it was checked and refused.
 */
export interface TokenObserver {
  tokenVerification(kind: 'jwt' | 'introspection', result: 'valid' | 'invalid' | 'error'): void;
}
