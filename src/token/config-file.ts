import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError, keySetUrl } from '../config.js';
import { parseSource } from '../json-source.js';
import { printable } from '../printable.js';
import { readRegularFile } from '../regular-file.js';
import { visibleNameSchema } from '../policy/schema.js';
import { decodeSource } from '../policy/source-text.js';
import { tokenBindingModes } from './binding.js';
import { audienceName } from './audience-name.js';
import { claimName, subjectClaimName } from './claim-name.js';
import { issuerName } from './issuer-name.js';
import { isPlainHttpRemote, plainHttpProblem } from './plain-http.js';
import { rolePrefix } from './role-prefix.js';
import { tokenType } from './token-type.js';
import { keySetAlgorithms } from './verify.js';

/** Largest TOKEN_CONFIG_FILE read: thousands of issuers; a link to /dev/zero is refused, not read until memory runs out. */
const maxTokenConfigBytes = 1024 * 1024;

const nonEmpty = z.string().min(1);

const claimMappingSchema = z
  .object({
    subject: subjectClaimName('"roles" and "scopes"').optional(),
    roles: z.array(claimName).optional(),
    scopes: z.array(claimName).optional(),
    rolePrefixes: z.array(rolePrefix).optional(),
    // Entity data is found by type, and no entity type holds these characters: a subject type
    // that only looks like `partner-user` would never meet its entities, nor their revocations.
    subjectType: visibleNameSchema('no entity type holds them, so these subjects would never find their entity data', 256).optional(),
  })
  .strict();

/** `httpUrls`: ALLOW_HTTP_TOKEN_URLS, which lets a jwksUrl be plain http:// to any host. */
const issuerSchema = (httpUrls: boolean) => z
  .object({
    issuer: issuerName,
    jwksUrl: (httpUrls ? keySetUrl : keySetUrl.refine((url) => !isPlainHttpRemote(url), plainHttpProblem)).optional(),
    jwksFile: nonEmpty.optional(),
    // Missing or of another kind, the union alone says only `Invalid input`.
    audience: z
      .union([audienceName, z.array(audienceName).min(1)], { error: 'required: the audience accepted, a string, or a list of one or more' })
      .transform((a) => (typeof a === 'string' ? [a] : a)),
    audienceClaim: claimName.optional(),
    algorithms: z.array(nonEmpty).min(1).optional(),
    type: tokenType.optional(),
    requireExp: z.boolean().optional(),
    tokenBinding: z.enum(tokenBindingModes).optional(),
    claims: claimMappingSchema.optional(),
  })
  .strict()
  .check((ctx) => {
    const { jwksUrl, jwksFile, algorithms = [] } = ctx.value;
    if ((jwksUrl === undefined) === (jwksFile === undefined)) {
      ctx.issues.push({ code: 'custom', path: ['jwksUrl'], message: 'give exactly one of "jwksUrl" or "jwksFile"', input: ctx.value });
    }
    algorithms.forEach((alg, index) => {
      if (/^(none|HS\d+)$/i.test(alg)) {
        ctx.issues.push({ code: 'custom', path: ['algorithms', index], message: `${alg} is never accepted from a key set`, input: alg });
      } else if (!keySetAlgorithms.has(alg)) {
        ctx.issues.push({ code: 'custom', path: ['algorithms', index], message: `${alg} is not a JWS algorithm this service verifies`, input: alg });
      }
    });
  });

/**
 * Most distinct key set URLs the file may name. Each is fetched at start and at every refresh,
 * all of them at once: 11,153 issuers of a URL each (the file's 1 MiB holds that many) opened
 * 7,585 connections at start, left many issuers' first fetch timed out, and held the event loop
 * 1.5 s at each refresh. Issuers of one identity provider (its tenants, its audiences) share
 * its URL, and it is fetched once for all of them.
 */
export const maxKeySetUrls = 256;

const tokenConfigSchema = (httpUrls: boolean) => z
  .object({ issuers: z.array(issuerSchema(httpUrls)).min(1) })
  .strict()
  .superRefine(
    (value, ctx) => {
      const seen = new Set<string>();
      const keySetUrls = new Set<string>();
      // As parsed so far: any JSON value, `null` included, when the file's shape is wrong.
      const issuers = (value as { issuers?: unknown } | null)?.issuers;
      const entries: readonly unknown[] = Array.isArray(issuers) ? issuers : [];
      entries.forEach((entry, index) => {
        const { issuer, jwksUrl } = typeof entry === 'object' && entry !== null ? (entry as { issuer?: unknown; jwksUrl?: unknown }) : {};
        // As fetched: one fetcher per URL as parsed, however it is written (`https://IDP.test/…`).
        const fetched = typeof jwksUrl === 'string' && URL.canParse(jwksUrl) ? new URL(jwksUrl).href : undefined;
        if (fetched !== undefined && !keySetUrls.has(fetched)) {
          keySetUrls.add(fetched);
          if (keySetUrls.size === maxKeySetUrls + 1) {
            ctx.addIssue({ code: 'custom', path: ['issuers', index, 'jwksUrl'], message: `a key set URL beyond the ${maxKeySetUrls} distinct ones fetched: each is fetched at start and at every refresh, all at once; issuers of one identity provider share its URL`, input: jwksUrl });
          }
        }
        if (typeof issuer !== 'string') return;
        if (seen.has(issuer)) ctx.addIssue({ code: 'custom', path: ['issuers', index, 'issuer'], message: 'issuer listed twice', input: issuer });
        seen.add(issuer);
      });
    },
    // Run beside the entries' own problems too: listed only once they were fixed, a repeated
    // issuer took a second round of edits to learn of.
    { when: () => true },
  );

/** One accepted issuer as the token configuration file states it. */
export type IssuerEntry = z.infer<ReturnType<typeof issuerSchema>>;

/**
 * Reads and checks TOKEN_CONFIG_FILE (JSON): `{ "issuers": [{ issuer, jwksUrl | jwksFile,
 * audience, audienceClaim?, algorithms?, type?, requireExp?, tokenBinding?, claims? }] }`. `jwksFile` is resolved against the file's folder.
 * A plain http:// jwksUrl to a host other than loopback is refused unless `options.allowHttpUrls`
 * (ALLOW_HTTP_TOKEN_URLS). Throws ConfigError listing every problem.
 */
export async function readTokenConfigFile(path: string, options: { readonly allowHttpUrls?: boolean } = {}): Promise<IssuerEntry[]> {
  let bytes: Buffer;
  try {
    bytes = await readRegularFile(path, maxTokenConfigBytes);
  } catch (error) {
    throw new ConfigError(printable(`TOKEN_CONFIG_FILE ${path}: ${(error as Error).message}`), { cause: error });
  }
  // Decoded leniently, a file saved as Latin-1 put U+FFFD in the names it held: an audience
  // `facturación` no token names, so every token was denied.
  const decoded = decodeSource(bytes);
  if (!('text' in decoded)) throw new ConfigError(printable(`TOKEN_CONFIG_FILE ${path}: ${decoded.message}`));
  const { text } = decoded;
  // Read as policy files are: a key written twice (an issuer's second `audience`, which JSON.parse
  // would take over the first) is refused at its path, as schema problems are; text that is not
  // JSON, as a whole, by line and column, quoting none of it (it holds key set URLs with their
  // query secrets).
  const source = parseSource(text);
  if (!('value' in source)) {
    throw new ConfigError(source.path === '$' ? printable(`TOKEN_CONFIG_FILE ${path}: ${source.message}`) : `invalid token configuration:\n  ${printable(`TOKEN_CONFIG_FILE ${source.path}: ${source.message}`)}`);
  }
  const parsed = tokenConfigSchema(options.allowHttpUrls === true).safeParse(source.value);
  if (!parsed.success) {
    const where = (path: readonly PropertyKey[]) => `$${path.map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`)).join('')}`;
    const lines = parsed.error.issues.map((i) => `  ${printable(`TOKEN_CONFIG_FILE ${where(i.path)}: ${i.message}`)}`);
    throw new ConfigError(`invalid token configuration:\n${lines.join('\n')}`);
  }
  const folder = dirname(path);
  return parsed.data.issuers.map((entry) => (entry.jwksFile === undefined ? entry : { ...entry, jwksFile: resolve(folder, entry.jwksFile) }));
}
