/** A token that cannot vouch for a subject. Always turns into a deny, never an HTTP error. */
export class InvalidTokenError extends Error {
  override readonly name = 'InvalidTokenError';
  readonly code = 'invalid_token';
}
