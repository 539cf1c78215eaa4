import { ConfigError, loadConfig } from './config.js';
import { DecisionService } from './decision/service.js';
import { createApp } from './http/app.js';
import { startServer } from './http/server.js';
import { stopOnSignals } from './http/shutdown.js';
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
  const decisions = new DecisionService({ policies, tokens });
  const app = createApp({
    decisions,
    policies,
    maxBodyBytes: config.MAX_BODY_BYTES,
    requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
    onUnexpectedError: (err, requestId) => log.error({ err, requestId }, 'unexpected error'),
  });

  const server = await startServer(app.fetch, {
    port: config.PORT,
    hostname: config.HOST,
    maxHeaderBytes: config.MAX_HEADER_BYTES,
    keepAliveTimeoutMs: config.KEEP_ALIVE_TIMEOUT_MS,
  });
  stopOnSignals(server.shutdown, { timeoutMs: config.SHUTDOWN_TIMEOUT_MS, log });
  const { set } = policies.current;
  log.info(
    {
      port: server.port,
      policyDir: config.POLICY_DIR,
      policyVersion: set.version,
      policies: set.policies.length,
      rules: set.ruleCount,
      tokens: tokens === undefined ? 'none (token requests are denied)' : { issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, algorithms: config.JWT_ALGORITHMS, keys: config.JWKS_FILE ?? config.JWKS_URL },
    },
    'invoice-pdp listening',
  );
}

start().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof PolicyLoadError) {
    process.stderr.write(`invoice-pdp: ${error.message}\n`);
  } else {
    process.stderr.write(`invoice-pdp: failed to start: ${error instanceof Error ? error.stack : String(error)}\n`);
  }
  process.exit(1);
});
