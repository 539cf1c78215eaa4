import { serve } from '@hono/node-server';
import { ConfigError, loadConfig } from './config.js';
import { configSummary, maskUrl } from './config-summary.js';
import { DecisionService } from './decision/service.js';
import { createApp } from './http/app.js';
import { createLogger } from './logger.js';
import { PolicyLoadError } from './policy/errors.js';
import { loadPolicyDir } from './policy/load.js';
import { PolicyStore } from './policy/store.js';
import { AuditLog } from './telemetry/audit.js';
import { auditDestination } from './telemetry/audit-destination.js';
import { PdpMetrics } from './telemetry/metrics.js';
import { auditErrorReporter, telemetryRecorder } from './telemetry/recorder.js';
import { tokenVerifierFromConfig } from './token/from-config.js';

async function start(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config.LOG_LEVEL);
  const policies = new PolicyStore(await loadPolicyDir(config.POLICY_DIR));
  const tokens = await tokenVerifierFromConfig(config);
  const metrics = new PdpMetrics();
  metrics.policyLoaded(policies.current.set.version, policies.current.set.ruleCount);
  const auditFailed = auditErrorReporter({ metrics, warn: (fields, message) => log.warn(fields, message) });
  const audit = new AuditLog({
    sink: auditDestination(config.AUDIT_LOG_FILE, auditFailed),
    decisions: config.AUDIT_DECISIONS,
    redact: config.AUDIT_REDACT,
    onError: auditFailed,
  });
  process.once('exit', () => audit.close());
  const decisions = new DecisionService({ policies, tokens, recorder: telemetryRecorder(metrics, audit) });
  const app = createApp({
    decisions,
    policies,
    maxBodyBytes: config.MAX_BODY_BYTES,
    onUnexpectedError: (err, requestId) => log.error({ err, requestId }, 'unexpected error'),
    metrics,
    metricsToken: config.METRICS_TOKEN,
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
        config: configSummary(config),
        tokens: tokens === undefined ? 'none (token requests are denied)' : { issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, algorithms: config.JWT_ALGORITHMS, keys: config.JWKS_FILE ?? maskUrl(config.JWKS_URL ?? '') },
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
}

start().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof PolicyLoadError) {
    process.stderr.write(`invoice-pdp: ${error.message}\n`);
  } else {
    process.stderr.write(`invoice-pdp: failed to start: ${error instanceof Error ? error.stack : String(error)}\n`);
  }
  process.exit(1);
});
