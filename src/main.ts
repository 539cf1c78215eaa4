import { callerKeys } from './caller/keys.js';
import { cacheFromConfig } from './cache/from-config.js';
import { isSupervisor, onSupervisorDisconnect, superviseWorkers, workerCount } from './cluster.js';
import { ConfigError, loadConfig } from './config.js';
import { policySetCandidates } from './decision/candidates.js';
import { SearchService } from './decision/search.js';
import { configSummary, maskUrl } from './config-summary.js';
import { DecisionService } from './decision/service.js';
import { createApp } from './http/app.js';
import { countRejections } from './http/rejections.js';
import { startServer } from './http/server.js';
import { stopOnSignals, type Shutdown } from './http/shutdown.js';
import { createLogger } from './logger.js';
import { loadCandidateSet } from './policy/candidate.js';
import { PolicyLoadError } from './policy/errors.js';
import { PolicyReloader } from './policy/reload.js';
import { PolicyStore } from './policy/store.js';
import { AuditLog } from './telemetry/audit.js';
import { auditDestination } from './telemetry/audit-destination.js';
import { metricsSource } from './telemetry/cluster-metrics.js';
import { PdpMetrics } from './telemetry/metrics.js';
import { auditErrorReporter, telemetryRecorder } from './telemetry/recorder.js';
import { tokensFromConfig } from './token/from-config.js';
import { watchPolicyDir } from './policy/watch.js';

async function start(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config.LOG_LEVEL);
  const workers = workerCount(config.WORKERS);
  if (isSupervisor(workers)) return superviseWorkers({ workers, log });
  const metrics = new PdpMetrics();
  const runPolicyTests = config.POLICY_TESTS_ON_RELOAD === 'true';
  const policies = new PolicyStore(await loadCandidateSet(config.POLICY_DIR, { runTests: runPolicyTests }));
  const reloader = new PolicyReloader({ dir: config.POLICY_DIR, store: policies, runTests: runPolicyTests, log, observer: metrics });
  const watcher = config.POLICY_WATCH === 'true'
    ? watchPolicyDir(config.POLICY_DIR, () => void reloader.reload('watch'), {
        onError: (err, path) => log.warn({ err, path }, 'cannot watch a policy folder'),
      })
    : undefined;
  process.on('SIGHUP', () => void reloader.reload('signal'));
  const tokens = await tokensFromConfig(config, {
    observer: metrics,
    onKeySetError: (url, err) => log.warn({ url: maskUrl(url), err: err.message }, 'key set fetch failed; the keys fetched before stay in use'),
  });
  const callers = callerKeys({ api: config.PDP_API_KEYS, trusted: config.PDP_TRUSTED_KEYS, admin: config.PDP_ADMIN_KEYS });
  if (callers.api.size + callers.trusted.size === 0) {
    log.warn('PDP_API_KEYS is not set: decision endpoints accept every caller, and any caller may send pre-verified subject claims');
  }
  const auditFailed = auditErrorReporter({ metrics, warn: (fields, message) => log.warn(fields, message) });
  const audit = new AuditLog({
    sink: auditDestination(config.AUDIT_LOG_FILE, auditFailed),
    decisions: config.AUDIT_DECISIONS,
    redact: config.AUDIT_REDACT,
    onError: auditFailed,
  });
  process.once('exit', () => audit.close());
  const caching = cacheFromConfig(config, {
    observer: metrics,
    onRedisStateChange: (up, cause) =>
      up ? log.info('redis up: decision cache shared') : log.warn({ err: cause }, 'redis down: deciding without it'),
  });
  const decisions = new DecisionService({
    policies,
    tokens: tokens.verifier,
    claims: tokens.claims,
    cache: caching.cache,
    recorder: telemetryRecorder(metrics, audit),
  });
  const search = new SearchService({ decisions, candidates: policySetCandidates(policies) });
  const countRejection = countRejections(metrics);
  const app = createApp({
    decisions,
    policies,
    callers,
    search,
    publicUrl: config.PUBLIC_URL,
    redisState: caching.redisState,
    keySets: () => tokens.keySets().map((set) => ({ ...set, url: maskUrl(set.url) })),
    maxBodyBytes: config.MAX_BODY_BYTES,
    admin: { policies, reloader },
    requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
    onUnexpectedError: (err, requestId) => log.error({ err, requestId }, 'unexpected error'),
    metrics,
    metricsSource: metricsSource(metrics.registry),
    metricsToken: config.METRICS_TOKEN,
    onProblem: countRejection,
  });

  const server = await startServer(app.fetch, {
    port: config.PORT,
    hostname: config.HOST,
    maxHeaderBytes: config.MAX_HEADER_BYTES,
    keepAliveTimeoutMs: config.KEEP_ALIVE_TIMEOUT_MS,
    onProblem: countRejection,
  });
  // Background work stops only once every request in flight has been answered.
  const shutdown: Shutdown = async (timeoutMs) => {
    const outcome = await server.shutdown(timeoutMs);
    tokens.close();
    watcher?.close();
    await caching.close();
    return outcome;
  };
  stopOnSignals(shutdown, { timeoutMs: config.SHUTDOWN_TIMEOUT_MS, log });
  onSupervisorDisconnect(() => void shutdown(config.SHUTDOWN_TIMEOUT_MS).then(() => process.exit(0)));
  const { set } = policies.current;
  log.info(
    {
      port: server.port,
      policyDir: config.POLICY_DIR,
      policyVersion: set.version,
      policies: set.policies.length,
      rules: set.ruleCount,
      entities: set.entities.size,
      config: configSummary(config),
      cache: { memoryEntries: config.CACHE_MEMORY_ENTRIES, ttlSeconds: config.CACHE_TTL_SECONDS, redis: caching.redisMode },
      tokens: tokens.summary,
      callers: { api: callers.api.size, trusted: callers.trusted.size, admin: callers.admin.size },
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
