import { isSupervisor, onSupervisorStop, superviseWorkers, workerCount } from './cluster.js';
import { ConfigError, loadConfig } from './config.js';
import { configSummary } from './config-summary.js';
import { startServer } from './http/server.js';
import { stopOnSignals, type Shutdown } from './http/shutdown.js';
import { createLogger } from './logger.js';
import { PolicyLoadError } from './policy/errors.js';
import { createService } from './service.js';

async function start(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config.LOG_LEVEL);
  const workers = workerCount(config.WORKERS);
  if (isSupervisor(workers)) return superviseWorkers({ workers, log, shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS });
  const service = await createService(config, log);
  process.on('SIGHUP', () => void service.reload());
  process.once('exit', () => service.flushAudit());

  const server = await startServer(service.app.fetch, {
    port: config.PORT,
    hostname: config.HOST,
    maxHeaderBytes: config.MAX_HEADER_BYTES,
    keepAliveTimeoutMs: config.KEEP_ALIVE_TIMEOUT_MS,
    onProblem: service.countRejection,
  });
  // Background work stops only once every request in flight has been answered.
  const shutdown: Shutdown = async (timeoutMs) => {
    const outcome = await server.shutdown(timeoutMs);
    await service.close();
    return outcome;
  };
  onSupervisorStop(stopOnSignals(shutdown, { timeoutMs: config.SHUTDOWN_TIMEOUT_MS, log }));
  log.info({ port: server.port, policyDir: config.POLICY_DIR, ...service.summary, config: configSummary(config) }, 'invoice-pdp listening');
}

start().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof PolicyLoadError) {
    process.stderr.write(`invoice-pdp: ${error.message}\n`);
  } else {
    process.stderr.write(`invoice-pdp: failed to start: ${error instanceof Error ? error.stack : String(error)}\n`);
  }
  process.exit(1);
});
