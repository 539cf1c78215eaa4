import { randomBytes } from 'node:crypto';
import cluster from 'node:cluster';
import { connectToSupervisor, isSupervisor, policiesRefusedExitCode, superviseWorkers, workerCount } from './cluster.js';
import { ConfigError, emptyGuardSettings, loadConfig, settingNames, type Config } from './config.js';
import { configSummary } from './config-summary.js';
import { longestAnswerMs } from './http/app.js';
import { stallTimeoutFor, startServer, type RunningServer } from './http/server.js';
import { stopOnSignals, type Shutdown } from './http/shutdown.js';
import { createLogger } from './logger.js';
import { PolicyLoadError } from './policy/errors.js';
import type { ReloadRequester, ReloadTrigger } from './policy/reload.js';
import { createService, type Service } from './service.js';
import { auditRelayTarget } from './telemetry/audit-relay.js';
import { tellMetricsStopping } from './telemetry/cluster-metrics.js';
import { unreadSettings, unreadSettingText } from './unread-settings.js';

/** The server could not listen on HOST:PORT; its message is the one line printed. */
class ListenError extends Error {}

const listenHints: Readonly<Record<string, string>> = {
  EADDRINUSE: 'another process listens on that port',
  EACCES: 'not allowed to listen there (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'HOST is not an address of this machine',
  ENOTFOUND: 'HOST does not resolve',
  EAI_AGAIN: 'HOST could not be resolved',
};

function listenError(config: Config, error: unknown): ListenError {
  const cause = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  const hint = typeof code === 'string' ? listenHints[code] : undefined;
  return new ListenError(`cannot listen on HOST=${config.HOST} PORT=${String(config.PORT)}: ${cause}${hint === undefined ? '' : ` (${hint})`}`);
}

/**
 * The settings. When they are refused, the variables that look like settings but are not read
 * are printed on stderr before the reason, as `pdp` prints them, since one can be why a setting
 * is missing: the logger that warns about them is not made yet. A ConfigError thrown later
 * (POLICY_DIR, TOKEN_CONFIG_FILE, in each worker) comes after that warning, so it names them no
 * second time.
 */
function loadSettings(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const unread of unreadSettings(Object.keys(process.env), settingNames)) process.stderr.write(`invoice-pdp: ${unreadSettingText(unread)}\n`);
    }
    throw error;
  }
}

/**
 * Starts the service, or its workers' supervisor. `stoppedBy`: a SIGTERM or SIGINT that came
 * while the modules loaded (see main.ts); the process then exits 0 as soon as it can say so.
 */
async function start(stoppedBy: NodeJS.Signals | undefined): Promise<void> {
  const config = loadSettings();
  const log = createLogger(config.LOG_LEVEL, cluster.worker?.id);
  // A fault no code path handles (a thrown error or a rejected promise nobody awaits) stops the
  // process, as Node would, but in one log line a collector parses rather than a bare stack over
  // several lines of stderr. The exit handlers still write out the queued log and audit lines.
  process.on('uncaughtException', (error, origin) => {
    log.fatal({ err: error, origin }, 'stopping: an error no code path handled');
    process.exit(1);
  });
  // A container's main process (PID 1) never gets a signal it does not handle: a SIGTERM while the
  // policies load was dropped, and the service went on to serve. Nothing is served yet to drain.
  const stopWhileStarting = (signal: NodeJS.Signals) => {
    log.info({ reason: signal }, 'stopped while starting');
    process.exit(0);
  };
  if (stoppedBy !== undefined) stopWhileStarting(stoppedBy);
  // Once, not again in each worker, which is given the same environment. Names only: a value may be a secret.
  if (cluster.isPrimary) {
    for (const unread of unreadSettings(Object.keys(process.env), settingNames)) log.warn(unread, 'unknown setting: not read');
    for (const name of emptyGuardSettings(process.env)) log.warn({ name }, 'set empty: counted as unset, which leaves open what it protects; give its value, or leave the variable out');
  }
  const workers = workerCount(config.WORKERS);
  if (isSupervisor(workers)) {
    // Workers inherit this environment: one key for all, so a page token opens in every worker.
    if (config.PAGE_TOKEN_SECRET === undefined) process.env['PAGE_TOKEN_SECRET'] = randomBytes(32).toString('base64url');
    // Audit lines on stdout or to a FIFO go through the primary, their one writer; a file each worker appends to itself.
    return superviseWorkers({ workers, log, shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS, relayAuditTo: auditRelayTarget(config.AUDIT_LOG_FILE) });
  }
  // Before the first await: a stop or reload the primary asks for while this worker starts is
  // kept, and a SIGHUP then does not kill the process; both act once the service exists.
  const supervisor = connectToSupervisor();
  process.on('SIGTERM', stopWhileStarting);
  process.on('SIGINT', stopWhileStarting);
  let serviceReady: (service: Service) => void = () => undefined;
  const ready = new Promise<Service>((resolve) => (serviceReady = resolve));
  const reload = (trigger: ReloadTrigger, requester?: ReloadRequester) => ready.then((service) => service.reload(trigger, requester));
  process.on('SIGHUP', () => void reload('signal'));
  supervisor?.onReload(reload);

  const service = await createService(config, log, {
    // Under WORKERS an admin reload reaches every worker: this one reloads, the others are asked,
    // and the answer says how each went.
    onReloadRequested: supervisor && ((requester) => supervisor.reloadOthers(requester)),
  });
  serviceReady(service);
  // Under WORKERS the primary logs them, once for the service.
  if (supervisor === undefined) for (const { fields, message } of service.warnings) log.warn(fields, message);
  else supervisor.reportWarnings(service.warnings);
  process.once('exit', () => service.flushAudit());

  let server: RunningServer;
  try {
    server = await startServer(service.app.fetch, {
      port: config.PORT,
      hostname: config.HOST,
      maxHeaderBytes: config.MAX_HEADER_BYTES,
      keepAliveTimeoutMs: config.KEEP_ALIVE_TIMEOUT_MS,
      stallTimeoutMs: stallTimeoutFor(longestAnswerMs(config.REQUEST_TIMEOUT_MS)),
      onProblem: service.countRejection,
    });
  } catch (error) {
    throw listenError(config, error);
  }
  // Background work stops only once every request in flight has been answered.
  const shutdown: Shutdown = async (timeoutMs) => {
    service.beginStopping();
    tellMetricsStopping();
    const outcome = await server.shutdown(timeoutMs);
    await service.close();
    return outcome;
  };
  // Taken over before they are let go: a signal with no listener is dropped (see main.ts).
  const stop = stopOnSignals(shutdown, { timeoutMs: config.SHUTDOWN_TIMEOUT_MS, log });
  process.off('SIGTERM', stopWhileStarting);
  process.off('SIGINT', stopWhileStarting);
  log.info({ port: server.port, policyDir: config.POLICY_DIR, ...service.summary, config: configSummary(config) }, 'invoice-pdp listening');
  supervisor?.onStop(stop);
}

/**
 * The exit code of a start that failed with `error`: 1, or in a worker whose policy set does not
 * load, the code that tells the primary so (see `policiesRefusedExitCode`).
 */
function failedStartExitCode(error: unknown): number {
  return cluster.isWorker && error instanceof ConfigError && error.cause instanceof PolicyLoadError ? policiesRefusedExitCode : 1;
}

/**
 * Runs the service as `node dist/main.js` does; exits 1 with the reason on stderr when it cannot
 * start (see `loadSettings`), a worker whose policy set does not load `policiesRefusedExitCode`.
 */
export function run(stoppedBy: NodeJS.Signals | undefined): void {
  start(stoppedBy).catch((error: unknown) => {
    if (error instanceof ConfigError || error instanceof ListenError) {
      process.stderr.write(`invoice-pdp: ${error.message}\n`);
    } else {
      process.stderr.write(`invoice-pdp: failed to start: ${error instanceof Error ? error.stack : String(error)}\n`);
    }
    process.exit(failedStartExitCode(error));
  });
}
