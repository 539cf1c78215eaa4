import { z } from 'zod';
import { defaultAlgorithms } from './token/verify.js';

const list = (fallback: readonly string[] = []) =>
  z
    .string()
    .optional()
    .transform((value) => (value === undefined || value.trim() === '' ? [...fallback] : value.split(',').map((s) => s.trim()).filter((s) => s.length > 0)));

const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()));

const forbiddenAlgorithms = /^(none|HS\d+)$/i;

const envSchema = z
  .object({
    PORT: z.coerce.number().int().min(0).max(65_535).default(8080),
    HOST: z.string().default('0.0.0.0'),
    POLICY_DIR: z.string().default('./policies'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(16 * 1024 * 1024).default(1024 * 1024),
    JWKS_FILE: optionalText,
    JWKS_URL: optionalText.pipe(z.url().optional()),
    JWT_ISSUER: optionalText,
    JWT_AUDIENCE: list(),
    JWT_ALGORITHMS: list(defaultAlgorithms),
    JWT_ALLOW_HMAC: z.enum(['true', 'false']).default('false'),
    JWT_CLOCK_TOLERANCE_SECONDS: z.coerce.number().int().min(0).max(300).default(30),
    REQUEST_TIMEOUT_MS: z.coerce.number().int().min(10).max(120_000).default(5_000),
    SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).max(300_000).default(10_000),
    MAX_HEADER_BYTES: z.coerce.number().int().min(1024).max(1024 * 1024).default(16_384),
    KEEP_ALIVE_TIMEOUT_MS: z.coerce.number().int().min(1_000).max(600_000).default(65_000),
  })
  .check((ctx) => {
    const env = ctx.value;
    const keyed = env.JWKS_FILE !== undefined || env.JWKS_URL !== undefined;
    const issue = (path: string, message: string) =>
      ctx.issues.push({ code: 'custom', path: [path], message, input: env });
    if (env.JWKS_FILE !== undefined && env.JWKS_URL !== undefined) issue('JWKS_URL', 'set JWKS_FILE or JWKS_URL, not both');
    if (keyed && env.JWT_ISSUER === undefined) issue('JWT_ISSUER', 'required when a key set is configured');
    if (keyed && env.JWT_AUDIENCE.length === 0) issue('JWT_AUDIENCE', 'required when a key set is configured');
    for (const alg of env.JWT_ALGORITHMS) {
      if (/^none$/i.test(alg)) issue('JWT_ALGORITHMS', '"none" is never accepted');
      else if (forbiddenAlgorithms.test(alg) && env.JWT_ALLOW_HMAC !== 'true') {
        issue('JWT_ALGORITHMS', `${alg} (HMAC) needs JWT_ALLOW_HMAC=true`);
      }
    }
  });

export type Config = z.infer<typeof envSchema>;

/** Thrown with every configuration problem at once. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parses the environment once at start; reports every problem, not just the first. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}
