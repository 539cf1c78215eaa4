/**
 * A comma with a URL after it (`https://a/jwks,https://b/jwks`): two URLs given where one is
 * read. A URL may hold a comma, so each parses, as the first URL with a path or host holding the
 * second, and was taken: its fetches went nowhere, or no token's `iss` was ever equal to it.
 */
const secondUrl = /,\s*[a-z][a-z\d+.-]*:\/\//i;

/** Why `value` is two URLs given for one, `give` saying what to give instead; undefined when it is not. */
export function secondUrlProblem(value: string, give: string): string | undefined {
  return secondUrl.test(value) ? `holds a second URL after a comma (two given for one): ${give}` : undefined;
}
