import { serve } from '@hono/node-server';
import { cacheFromConfig } from './cache/from-config.js';
import { ConfigError, loadConfig } from './config.js';
import { DecisionService } from './decision/service.js';
import { createApp } from './http/app.js';
import { createLogger } from './logger.js';
import { PolicyLoadError } from './policy/errors.js';
import { loadPolicyDir } from './policy/load.js';
import { PolicyStore } from './policy/store.js';
import { tokenVerifierFromConfig } from './token/from-config.js';

async function start(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config.LOG_LEVEL);
  const policies = new PolicyStore(await loadPolicyDir(config.POLICY_DIR));
  const tokens = await tokenVerifierFromConfig(config);
  const caching = cacheFromConfig(config, {
    onRedisStateChange: (up, cause) =>
      up ? log.info('redis up: decision cache shared') : log.warn({ err: cause }, 'redis down: deciding without it'),
  });
  const decisions = new DecisionService({ policies, tokens, cache: caching.cache });
  const app = createApp({
    decisions,
    policies,
    redisState: caching.redisState,
    maxBodyBytes: config.MAX_BODY_BYTES,
    onUnexpectedError: (err, requestId) => log.error({ err, requestId }, 'unexpected error'),
  });

  const server = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST }, (info) => {
    const { set } = policies.current;
    log.info(
      {
        port: info.port,
        policyDir: config.POLICY_DIR,
        policyVersion: set.version,
        policies: set.policies.length,
        rules: set.ruleCount,
        cache: { memoryEntries: config.CACHE_MEMORY_ENTRIES, ttlSeconds: config.CACHE_TTL_SECONDS, redis: caching.redisMode },
        tokens: tokens === undefined ? 'none (token requests are denied)' : { issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, algorithms: config.JWT_ALGORITHMS, keys: config.JWKS_FILE ?? config.JWKS_URL },
      },
      'invoice-pdp listening',
    );
  });

  const shutdown = (signal: string) => {
    log.info({ signal }, 'shutting down');
    void caching.close();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 10_000).unref();
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

start().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof PolicyLoadError) {
    process.stderr.write(`invoice-pdp: ${error.message}\n`);
  } else {
    process.stderr.write(`invoice-pdp: failed to start: ${error instanceof Error ? error.stack : String(error)}\n`);
  }
  process.exit(1);
});
