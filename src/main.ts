import { serve } from '@hono/node-server';
import { ConfigError, loadConfig } from './config.js';
import { DecisionService } from './decision/service.js';
import { createApp } from './http/app.js';
import { createLogger } from './logger.js';
import { loadCandidateSet } from './policy/candidate.js';
import { PolicyLoadError } from './policy/errors.js';
import { PolicyReloader } from './policy/reload.js';
import { PolicyStore } from './policy/store.js';
import { watchPolicyDir } from './policy/watch.js';
import { tokenVerifierFromConfig } from './token/from-config.js';

async function start(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config.LOG_LEVEL);
  const runPolicyTests = config.POLICY_TESTS_ON_RELOAD === 'true';
  const policies = new PolicyStore(await loadCandidateSet(config.POLICY_DIR, { runTests: runPolicyTests }));
  const reloader = new PolicyReloader({ dir: config.POLICY_DIR, store: policies, runTests: runPolicyTests, log });
  const watcher = config.POLICY_WATCH === 'true'
    ? watchPolicyDir(config.POLICY_DIR, () => void reloader.reload('watch'), {
        onError: (err, path) => log.warn({ err, path }, 'cannot watch a policy folder'),
      })
    : undefined;
  process.on('SIGHUP', () => void reloader.reload('signal'));
  const tokens = await tokenVerifierFromConfig(config);
  const decisions = new DecisionService({ policies, tokens });
  const app = createApp({
    decisions,
    policies,
    maxBodyBytes: config.MAX_BODY_BYTES,
    admin: config.PDP_ADMIN_KEYS.length > 0 ? { keys: config.PDP_ADMIN_KEYS, policies, reloader } : undefined,
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
        tokens: tokens === undefined ? 'none (token requests are denied)' : { issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, algorithms: config.JWT_ALGORITHMS, keys: config.JWKS_FILE ?? config.JWKS_URL },
      },
      'invoice-pdp listening',
    );
  });

  const shutdown = (signal: string) => {
    log.info({ signal }, 'shutting down');
    watcher?.close();
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
