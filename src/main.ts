import { serve } from '@hono/node-server';
import { isSupervisor, onSupervisorDisconnect, superviseWorkers, workerCount } from './cluster.js';
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
  const workers = workerCount(config.WORKERS);
  if (isSupervisor(workers)) return superviseWorkers({ workers, log });
  const policies = new PolicyStore(await loadPolicyDir(config.POLICY_DIR));
  const tokens = await tokenVerifierFromConfig(config);
  const decisions = new DecisionService({ policies, tokens });
  const app = createApp({
    decisions,
    policies,
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
        tokens: tokens === undefined ? 'none (token requests are denied)' : { issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, algorithms: config.JWT_ALGORITHMS, keys: config.JWKS_FILE ?? config.JWKS_URL },
      },
      'invoice-pdp listening',
    );
  });

  const shutdown = (signal: string) => {
    log.info({ signal }, 'shutting down');
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 10_000).unref();
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  onSupervisorDisconnect(() => shutdown('disconnected by the cluster primary'));
}

start().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof PolicyLoadError) {
    process.stderr.write(`invoice-pdp: ${error.message}\n`);
  } else {
    process.stderr.write(`invoice-pdp: failed to start: ${error instanceof Error ? error.stack : String(error)}\n`);
  }
  process.exit(1);
});
