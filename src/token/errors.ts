/** A token that cannot vouch for a subject. Always turns into a deny, never an HTTP error. */
export class InvalidTokenError extends Error {
  override readonly name: string = 'InvalidTokenError';
  readonly code = 'invalid_token';
}

/**
 * The token could not be checked because something it depends on failed (key set or
 * introspection endpoint down, slow or answering nonsense). Still a deny with `invalid_token`;
 * kept apart so metrics can tell an outage from a bad token.
 */
export class TokenCheckUnavailableError extends InvalidTokenError {
  override readonly name: string = 'TokenCheckUnavailableError';
}
