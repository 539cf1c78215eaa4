import { expect } from 'vitest';
import { InvalidTokenError } from '../../src/token/errors.js';

/** The InvalidTokenError a token check must end in; fails the test on anything else. */
export async function refusal(verify: Promise<unknown>): Promise<InvalidTokenError> {
  const error = await verify.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InvalidTokenError);
  return error as InvalidTokenError;
}
