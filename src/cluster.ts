import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { defaultCgroupRoot, defaultStatusFile, usableCpus } from './cgroup-cpus.js';
import { maxWorkers } from './config.js';
import { closeGraceMs, onStopSignals } from './http/shutdown.js';
import type { ReloadRequester, ReloadResult, ReloadTrigger, WorkerReload } from './policy/reload.js';
import type { StartupWarning } from './service.js';
import { relayAudit } from './telemetry/audit-relay.js';
import { isMessage, serveClusterMetrics } from './telemetry/cluster-metrics.js';

/**
 * How many server processes to run: `WORKERS` when set (`auto` = one per usable CPU: the cores
 * the process may run on, as `status` lists them, fewer under a cgroup CPU quota read below
 * `cgroupRoot`); unset, one per usable CPU when NODE_ENV=production and a single process
 * otherwise (tests, development). One per CPU is at most `maxWorkers`, as a count set is.
 */
export function workerCount(configured: number | 'auto' | undefined, nodeEnv = process.env['NODE_ENV'], cgroupRoot = defaultCgroupRoot, status = defaultStatusFile): number {
  if (configured === 'auto' || (configured === undefined && nodeEnv?.trim() === 'production')) return Math.min(usableCpus(cgroupRoot, status), maxWorkers);
  return configured ?? 1;
}

export interface SupervisorOptions {
  readonly workers: number;
  readonly log: Logger;
  /**
   * How long each worker's drain may take on shutdown (SHUTDOWN_TIMEOUT_MS, which the workers
   * apply themselves); a worker still running `closeGraceMs` after that is killed.
   */
  readonly shutdownTimeoutMs: number;
  /**
   * Where the audit log goes when that is a pipe (stdout, or a FIFO named by AUDIT_LOG_FILE): the
   * workers hand their lines to the primary, its one writer (src/telemetry/audit-relay.ts), so
   * lines from different workers never break each other.
   */
  readonly relayAuditTo?: string | number;
}

/** True in the process that should supervise workers instead of serving. */
export function isSupervisor(workers: number): boolean {
  return workers > 1 && cluster.isPrimary;
}

/** The message the primary sends each worker to stop it gracefully. */
const stopMessage = 'invoice-pdp:stop';

/** Primary → worker: reload the policies. */
const reloadType = 'invoice-pdp:reload';
/** Worker → primary: how the reload asked for with a `round` went. */
const reloadedType = 'invoice-pdp:reloaded';
/** Worker → primary: an admin reload here; have every other worker reload too, and say how each went. */
const reloadOthersType = 'invoice-pdp:reload-others';
/** Primary → worker: how the other workers' reloads went. */
const othersReloadedType = 'invoice-pdp:others-reloaded';
/**
 * Worker → primary: the start-up warnings of its configuration, which the primary logs for the
 * first worker that reports them. The workers share one configuration, and a warning of each
 * would read as N problems; left to one worker (the first forked), they were never logged when
 * it died starting while another served.
 */
const warningsType = 'invoice-pdp:startup-warnings';
/**
 * Worker → primary: I hear your messages now. Until then a worker loads its modules, and a
 * message it is sent has no listener yet and is lost.
 */
const hearingType = 'invoice-pdp:hearing';

/**
 * How long the primary waits for the other workers' reloads an admin reload asked for: half the
 * admin endpoints' minute, so the answer comes well within it. A worker that has not answered
 * by then is reported as `no_answer`; its reload goes on.
 */
const othersReloadMs = 30_000;

interface ReloadMessage {
  readonly type: typeof reloadType;
  readonly trigger: ReloadTrigger;
  /** Who asked for the admin reload in another worker. */
  readonly requester?: ReloadRequester;
  /** Set when the primary waits to hear how the reload went (`reloadedType`). */
  readonly round?: number;
}

interface ReloadedMessage {
  readonly type: typeof reloadedType;
  readonly round: number;
  readonly result: WorkerReload['result'];
  readonly version: string;
  readonly problems?: number;
}

interface ReloadOthersMessage {
  readonly type: typeof reloadOthersType;
  readonly id?: unknown;
  readonly requester?: unknown;
}

interface WarningsMessage {
  readonly type: typeof warningsType;
  readonly warnings: readonly StartupWarning[];
}

interface OthersReloadedMessage {
  readonly type: typeof othersReloadedType;
  readonly id: number;
  /** Absent when the primary asked no other worker: it is stopping. */
  readonly workers?: readonly WorkerReload[];
}

/** The requester a worker's message names, when it names one of the right shape. */
function requesterOf(message: ReloadOthersMessage): ReloadRequester | undefined {
  const requester = message.requester;
  if (typeof requester !== 'object' || requester === null) return undefined;
  const { caller, requestId } = requester as Record<string, unknown>;
  return typeof caller === 'string' && typeof requestId === 'string' ? { caller, requestId } : undefined;
}

/** A worker's side of the supervision: what the primary asks of it, and what it asks of the primary. */
export interface SupervisorLink {
  /**
   * Calls `stop` when the primary asks this worker to stop, or when the primary is gone (its
   * channel closed); a request that came before `stop` was given is acted on at once. A worker
   * whose primary goes before `stop` is given (still starting) exits at once.
   */
  onStop(stop: (reason: string) => void): void;
  /**
   * Calls `reload` when the primary asks every worker to reload (SIGHUP, or another worker's
   * admin reload, with who asked for it), and tells the primary how it went when it asks.
   */
  onReload(reload: (trigger: ReloadTrigger, requester?: ReloadRequester) => Promise<ReloadResult>): void;
  /**
   * On an admin reload here, asks the primary to have every other worker reload its policies;
   * resolves with how each went (within `othersReloadMs`), or undefined when the primary does not
   * answer (gone, or stopping). Never rejects.
   */
  reloadOthers(requester: ReloadRequester): Promise<readonly WorkerReload[] | undefined>;
  /** Hands the primary this worker's start-up warnings, to be logged once for the service. */
  reportWarnings(warnings: readonly StartupWarning[]): void;
}

/**
 * In a worker, starts listening to the primary at once (call it before any await at start-up,
 * so a stop asked for while the worker starts is kept); undefined outside a worker.
 */
export function connectToSupervisor(): SupervisorLink | undefined {
  const worker = cluster.worker;
  if (worker === undefined) return undefined;
  let stopHandler: ((reason: string) => void) | undefined;
  let stopAsked: string | undefined;
  let reloadHandler: ((trigger: ReloadTrigger, requester?: ReloadRequester) => Promise<ReloadResult>) | undefined;
  const asked = new Map<number, (workers: readonly WorkerReload[] | undefined) => void>();
  let nextId = 0;
  const askStop = (reason: string) => {
    if (stopHandler === undefined) stopAsked ??= reason;
    else stopHandler(reason);
  };
  const send = (message: object) => {
    if (worker.isConnected()) worker.send(message, () => undefined);
  };
  worker.on('message', (message: unknown) => {
    if (message === stopMessage) askStop('supervisor');
    else if (isMessage<ReloadMessage>(message, reloadType)) {
      const { round } = message;
      void reloadHandler?.(message.trigger, message.requester).then((result) => {
        if (round === undefined) return;
        const reloaded: ReloadedMessage = result.ok
          ? { type: reloadedType, round, result: 'reloaded', version: result.version }
          : { type: reloadedType, round, result: 'rejected', version: result.version, problems: result.issues.length };
        send(reloaded);
      });
    } else if (isMessage<OthersReloadedMessage>(message, othersReloadedType)) {
      asked.get(message.id)?.(message.workers);
    }
  });
  send({ type: hearingType });
  // node:cluster tells a write of its own to a primary that is gone (EPIPE: acknowledging a
  // connection handed over just before) as an 'error' on the worker, which unheard crashed it,
  // cutting every request it held. The 'disconnect' that follows stops it as a stop does.
  worker.on('error', () => undefined);
  worker.once('disconnect', () => {
    // Node emits this event, then exits the worker at once unless `exitedAfterDisconnect` is
    // set (lib/internal/cluster/child.js), dropping every request in flight. Marked, a serving
    // worker drains as on a stop. One still starting keeps Node's exit: it has nothing to drain,
    // and without its primary it could never listen.
    if (stopHandler !== undefined) worker.exitedAfterDisconnect = true;
    for (const answer of [...asked.values()]) answer(undefined);
    askStop('supervisor gone');
  });
  return {
    onStop(stop) {
      stopHandler = stop;
      if (stopAsked !== undefined) stop(stopAsked);
    },
    onReload(reload) {
      reloadHandler = reload;
    },
    reloadOthers(requester) {
      const id = nextId++;
      return new Promise((resolve) => {
        const timer = setTimeout(() => answer(undefined), othersReloadMs + 1_000);
        const answer = (workers: readonly WorkerReload[] | undefined) => {
          clearTimeout(timer);
          asked.delete(id);
          resolve(workers);
        };
        asked.set(id, answer);
        const message: ReloadOthersMessage = { type: reloadOthersType, id, requester };
        if (!worker.isConnected()) answer(undefined);
        else worker.send(message, (error: Error | null) => error !== null && answer(undefined));
      });
    },
    reportWarnings(warnings) {
      const message: WarningsMessage = { type: warningsType, warnings };
      send(message);
    },
  };
}

// Workers crashing this often are not worth restarting again: something is wrong with the host.
const restartWindowMs = 30_000;
const maxRestartsInWindow = 5;

// A worker that fails to start while others serve is started again after this delay, doubling
// with each failure in a row up to the maximum; a worker that listens resets it.
const startRetryFirstMs = 100;
const startRetryMaxMs = 10_000;

/**
 * The exit code of a worker that could not start because its policy set does not load (start.ts;
 * any other failed start exits 1): how the primary knows that the files on disk are refused while
 * the other workers serve an older set, which the workers' own metrics cannot say.
 */
export const policiesRefusedExitCode = 65;

/**
 * Runs the cluster primary: forks `workers` processes of this same program (each serves on the
 * shared port), answers workers' cluster-metrics requests, and replaces a worker that dies.
 *
 * - A worker that dies before it listens while no worker serves (at start, or after every worker
 *   died) stops the whole service, exit 1: bad configuration or policies do not fix themselves.
 * - One that dies before it listens while others serve (say, a replacement meeting a policy set
 *   made invalid on disk since) is started again after 100 ms, doubling up to 10 s, until one
 *   listens; the others keep serving meanwhile. From one that exits `policiesRefusedExitCode`
 *   until a worker listens, `/metrics` reads `pdp_policy_last_reload_successful` 0. These failed
 *   starts are not counted below: the delay already paces them, and counting them would stop the
 *   healthy workers too. A worker whose process Node cannot spawn (descriptors or processes used
 *   up) is one that failed to start.
 * - One that dies while serving is replaced at once; more than 5 such crashes in 30 s stop the
 *   service, exit 1.
 *
 * It logs the start-up warnings of the first worker to report them (see `warningsType`).
 *
 * On SIGHUP it asks every worker to reload its policies, and a worker whose admin endpoint
 * reloaded has it ask the others; one still loading its modules is asked once it hears. Once
 * stopping it asks none (a SIGHUP then logs so). On
 * SIGTERM or SIGINT it asks each worker to stop, so each drains as a single process does on
 * SIGTERM (a worker still starting is sent SIGTERM: it exits at once, having nothing to drain),
 * and exits once it has counted every worker's exit: 0, or 1 when a worker had to cut
 * connections or did not stop in time; a second signal kills the workers and exits 1 at once
 * (but the first passed on again: see `echoWindowMs`). With `relayAuditTo`, it
 * writes the workers' audit lines there, and before it exits waits for the lines their pipes
 * still hold to be written, until the same deadline.
 */
export function superviseWorkers(options: SupervisorOptions): void {
  const { log, workers, shutdownTimeoutMs } = options;
  const live = new Map<number, Worker>();
  const listening = new Set<number>();
  /** Workers that said they hear the primary; a reload for one yet to is kept until it does. */
  const hearing = new Set<number>();
  const unheard = new Map<number, ReloadMessage[]>();
  const restarts: number[] = [];
  const retries = new Set<NodeJS.Timeout>();
  let failedStarts = 0;
  let warned = false;
  let stopping = false;
  let exitCode = 0;
  /** When a stop must be over: SHUTDOWN_TIMEOUT_MS plus the close grace after it began (performance.now()). */
  let deadline = Infinity;

  const metrics = serveClusterMetrics();
  const relay = options.relayAuditTo === undefined ? undefined : relayAudit(log, options.relayAuditTo);
  if (relay !== undefined) process.once('exit', () => relay.exitFlush());
  // Relayed, a worker writes its audit lines to its stdout, the pipe to the primary: AUDIT_LOG_FILE
  // blank is unset.
  const workerEnv = relay === undefined ? undefined : { AUDIT_LOG_FILE: '' };
  const fork = () => {
    const worker = cluster.fork(workerEnv);
    live.set(worker.id, worker);
    // An 'error' no one listens for stops the primary, and every serving worker with it.
    worker.on('error', (error) => failed(worker, error));
    // A process Node could not start has no pid, and no pipes to read.
    if (worker.process.pid !== undefined) relay?.attach(worker);
  };
  /** Every worker has exited: the audit lines they left are written, within the deadline, then the process exits. */
  const exit = () => {
    if (relay === undefined) process.exit(exitCode);
    void relay.close(Math.max(0, deadline - performance.now())).then(() => process.exit(exitCode));
  };
  const forkLater = (delayMs: number) => {
    const timer = setTimeout(() => {
      retries.delete(timer);
      metrics.waitingToStart(retries.size);
      if (!stopping) fork();
    }, delayMs);
    retries.add(timer);
    metrics.waitingToStart(retries.size);
  };

  const stop = (reason: string, code: number) => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    deadline = performance.now() + shutdownTimeoutMs + closeGraceMs;
    for (const timer of retries) clearTimeout(timer);
    retries.clear();
    metrics.waitingToStart(0);
    relay?.stopping();
    log.info({ reason, workers: live.size }, 'stopping workers');
    if (live.size === 0) return exit();
    // A message, not worker.disconnect(): that closes the worker's server at once and waits for
    // every connection to close, so a keep-alive connection whose request was in flight at the
    // signal stayed open (its answer had no `Connection: close`) until the worker was killed.
    // A worker whose channel is already closed is on its way out: its exit is counted below.
    // One still starting has nothing to drain, and may not hear its channel yet (loading its
    // modules): SIGTERM stops it at once, as it does a single process starting, where asked it
    // went on to load its policies and listen first, and one slower than the deadline was
    // killed, exit 1. One that listened meanwhile takes the signal as a stop and drains.
    for (const worker of live.values()) {
      // Never started (Node could not spawn it: see `failed`), it is told gone by its 'error',
      // due next. Signalled meanwhile, Node sends the signal to whatever pid its never-filled
      // process record holds: a stranger, or with 0 the primary's whole process group.
      if (worker.process.pid === undefined) continue;
      if (!listening.has(worker.id)) worker.process.kill('SIGTERM');
      else if (worker.isConnected()) worker.send(stopMessage, () => undefined);
    }
    setTimeout(() => {
      // Every worker gone: what is left is the audit relay's wait, which ends by itself now.
      if (live.size === 0) return;
      for (const worker of live.values()) worker.process.kill('SIGKILL');
      log.error({ timeoutMs: shutdownTimeoutMs }, 'workers did not stop in time: killed');
      process.exit(1);
    }, shutdownTimeoutMs + closeGraceMs).unref();
  };

  /** Admin reloads waiting to hear from the other workers, by round: those yet to answer, the answers, and the end. */
  const rounds = new Map<number, { readonly waiting: Set<number>; readonly answers: WorkerReload[]; readonly finish: () => void }>();
  let nextRound = 0;
  const answered = (round: number, answer: WorkerReload) => {
    const waiting = rounds.get(round);
    if (waiting === undefined || !waiting.waiting.delete(answer.worker)) return;
    waiting.answers.push(answer);
    if (waiting.waiting.size === 0) waiting.finish();
  };

  /**
   * Asks every worker but `except` to reload its policies; with `onAnswers`, hears how each went
   * and tells it once every one has answered, or `othersReloadMs` has passed (`no_answer` for the
   * rest; a worker that exits meanwhile is one too). Once stopping, no worker is asked.
   */
  const reload = (trigger: ReloadTrigger, except?: number, requester?: ReloadRequester, onAnswers?: (workers: readonly WorkerReload[]) => void) => {
    if (stopping) return;
    const others = [...live.values()].filter((worker) => worker.id !== except && worker.isConnected());
    const round = onAnswers === undefined ? undefined : nextRound++;
    if (round !== undefined && onAnswers !== undefined) {
      const answers: WorkerReload[] = [];
      const waiting = new Set(others.map((worker) => worker.id));
      const finish = () => {
        clearTimeout(timer);
        rounds.delete(round);
        for (const worker of waiting) answers.push({ worker, result: 'no_answer' });
        onAnswers(answers.sort((a, b) => a.worker - b.worker));
      };
      const timer = setTimeout(finish, othersReloadMs);
      rounds.set(round, { waiting, answers, finish });
      if (waiting.size === 0) finish();
    }
    const message: ReloadMessage = { type: reloadType, trigger, ...(requester !== undefined && { requester }), ...(round !== undefined && { round }) };
    for (const worker of others) {
      if (hearing.has(worker.id)) sendReload(worker, message);
      else unheard.set(worker.id, [...(unheard.get(worker.id) ?? []), message]);
    }
  };
  const sendReload = (worker: Worker, message: ReloadMessage) => {
    worker.send(message, (error: Error | null) => {
      if (error !== null && message.round !== undefined) answered(message.round, { worker: worker.id, result: 'no_answer' });
    });
  };

  cluster.on('listening', (worker, address) => {
    listening.add(worker.id);
    failedStarts = 0;
    // It loaded the policy files as they are now.
    metrics.policiesRefused(false);
    log.info({ worker: worker.id, pid: worker.process.pid, port: address.port }, 'worker listening');
    // Signalled while starting, it may have listened before the signal came: it drains then.
    if (stopping && worker.isConnected()) worker.send(stopMessage, () => undefined);
  });

  cluster.on('message', (worker, message: unknown) => {
    if (isMessage(message, hearingType)) {
      // It may have read the policy files before a reload asked for meanwhile: it reloads now.
      hearing.add(worker.id);
      const kept = unheard.get(worker.id) ?? [];
      unheard.delete(worker.id);
      if (!stopping) for (const each of kept) sendReload(worker, each);
      return;
    }
    if (isMessage<WarningsMessage>(message, warningsType)) {
      if (!warned && Array.isArray(message.warnings)) {
        warned = true;
        for (const { fields, message: text } of message.warnings) log.warn(fields, text);
      }
      return;
    }
    if (isMessage<ReloadedMessage>(message, reloadedType)) {
      answered(message.round, {
        worker: worker.id,
        result: message.result,
        version: message.version,
        ...(message.problems !== undefined && { problems: message.problems }),
      });
      return;
    }
    if (!isMessage<ReloadOthersMessage>(message, reloadOthersType)) return;
    const requester = requesterOf(message);
    const { id } = message;
    const reply = typeof id === 'number' ? (workers?: readonly WorkerReload[]) => {
      const answer: OthersReloadedMessage = { type: othersReloadedType, id, ...(workers !== undefined && { workers }) };
      if (worker.isConnected()) worker.send(answer, () => undefined);
    } : undefined;
    // Stopping, the workers drain and reload nothing more: none is asked, and the answer says so
    // by leaving `workers` out, rather than listing each as `no_answer`, whose reload would go on.
    if (stopping) {
      reply?.();
      return;
    }
    log.info({ worker: worker.id, trigger: 'admin', ...requester }, 'reloading the other workers\' policies');
    reload('admin', worker.id, requester, reply);
  });

  /** A worker is gone, exited or never started: counted, and replaced unless the service stops. */
  const gone = (worker: Worker, code: number | null) => {
    live.delete(worker.id);
    hearing.delete(worker.id);
    unheard.delete(worker.id);
    for (const round of [...rounds.keys()]) answered(round, { worker: worker.id, result: 'no_answer' });
    const served = listening.delete(worker.id);
    if (stopping) {
      // A worker that had to cut connections at its deadline makes the whole stop a failed one;
      // one that never served (a retried start meeting bad policies) had nothing to drain.
      if (code !== 0 && served) exitCode = 1;
      if (live.size === 0) {
        log.info('all workers stopped');
        exit();
      }
      return;
    }
    if (!served) {
      if (listening.size === 0) {
        stop('a worker failed to start', 1);
        return;
      }
      // Kept until a worker listens: one failing before it reads the policies does not say they load.
      if (code === policiesRefusedExitCode) metrics.policiesRefused(true);
      const delayMs = Math.min(startRetryFirstMs * 2 ** failedStarts, startRetryMaxMs);
      failedStarts++;
      log.warn({ worker: worker.id, retryInMs: delayMs, serving: listening.size }, 'a worker failed to start: starting another later; the others keep serving');
      forkLater(delayMs);
      return;
    }
    // Elapsed time, not the wall clock: a clock stepped forward (NTP, a virtual machine resuming)
    // would empty the window of crashes, and one stepped back would keep them in it.
    const now = performance.now();
    restarts.push(now);
    while ((restarts[0] ?? now) < now - restartWindowMs) restarts.shift();
    if (restarts.length > maxRestartsInWindow) stop('workers keep crashing', 1);
    else fork();
  };

  /**
   * Node could not start the worker's process (spawn EMFILE or ENFILE with the primary's
   * descriptors used up, EAGAIN with the host's processes): it says so with an 'error' and no
   * 'exit', and leaves the worker among `cluster.workers`, where a scrape would count it as
   * starting for ever. It is gone as one that died starting is: tried again later while others
   * serve. Any other 'error' is a message or signal that could not reach a worker on its way
   * out, whose exit is told as usual.
   */
  const failed = (worker: Worker, error: Error) => {
    if (worker.process.pid !== undefined) {
      log.warn({ worker: worker.id, err: error }, 'a worker could not be reached');
      return;
    }
    if (cluster.workers !== undefined) Reflect.deleteProperty(cluster.workers, worker.id);
    log.error({ worker: worker.id, err: error }, 'a worker could not be started');
    gone(worker, null);
  };

  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) log.error({ worker: worker.id, pid: worker.process.pid, code, signal }, 'worker exited');
    gone(worker, code);
  });

  onStopSignals(
    (signal) => stop(signal, 0),
    (signal) => {
      for (const worker of live.values()) worker.process.kill('SIGKILL');
      log.warn({ signal, workers: live.size }, 'second signal: workers killed, exiting at once');
      process.exit(1);
    },
    log,
  );
  process.on('SIGHUP', () => {
    // Stopping, the workers drain and reload nothing more: none is asked, as for an admin reload.
    if (stopping) {
      log.info({ workers: live.size }, 'SIGHUP: no worker reloads, the service is stopping');
      return;
    }
    log.info({ workers: live.size }, 'SIGHUP: reloading every worker\'s policies');
    reload('signal');
  });
  log.info({ workers }, 'starting workers');
  for (let i = 0; i < workers; i++) fork();
}
