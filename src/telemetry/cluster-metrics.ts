import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { lastReloadSuccessfulGauge } from './metrics.js';

/** Where `/metrics` reads its exposition text. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/**
 * How long the primary waits for the workers' registries before it sums those that arrived:
 * with a worker hung, `/metrics` still answers within about this (plus the summing).
 */
export const gatherTimeoutMs = 2_000;

/**
 * How long a worker waits for the primary's answer to its scrape: the gathering, the summing,
 * and slack for a busy primary. A scrape never takes longer, whatever the workers do.
 */
export const scrapeTimeoutMs = gatherTimeoutMs + 3_000;

// Worker → primary: "the cluster's metrics, please" (`/metrics` on that worker), and the answer.
const requestType = 'invoice-pdp:cluster-metrics-request';
const responseType = 'invoice-pdp:cluster-metrics-response';
// Worker → primary once the worker can answer; primary → worker: "your registry, please", and its answer.
const readyType = 'invoice-pdp:worker-metrics-ready';
const gatherType = 'invoice-pdp:worker-metrics-request';
const partType = 'invoice-pdp:worker-metrics-response';
// Worker → primary once it begins to stop (drains): not asked again.
const stoppingType = 'invoice-pdp:worker-metrics-stopping';

interface Request {
  readonly type: string;
  readonly id: number;
}

interface MetricsResponse extends Request {
  readonly text?: string;
  readonly error?: string;
}

/** A worker's `registry.getMetricsAsJSON()`, the input of `AggregatorRegistry.aggregate`. */
interface Part extends Request {
  readonly metrics?: readonly object[];
  readonly error?: string;
}

/** Whether an IPC message is one of ours of that type. */
export function isMessage<T extends { type: string }>(message: unknown, type: string): message is T {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type;
}

type Result = 'answered' | 'timed_out' | 'failed' | 'not_ready';
const results: readonly Result[] = ['answered', 'timed_out', 'failed', 'not_ready'];

/**
 * A process's `getMetricsAsJSON()` with the limits of one process taken at their lowest rather
 * than summed: two workers of 20,000 file descriptors each do not make a process of 40,000.
 */
function perProcessLimits(metrics: readonly object[]): readonly object[] {
  return metrics.map((metric) => ((metric as { name?: unknown }).name === 'process_max_fds' ? { ...metric, aggregator: 'min' } : metric));
}

/**
 * The metrics of `metrics` that only ever grow (counters, histograms): what a worker left out of
 * a scrape, or gone, still adds to the sum.
 */
function cumulative(metrics: readonly object[]): readonly object[] {
  return metrics.filter((metric) => {
    const type = (metric as { type?: unknown }).type;
    return type === 'counter' || type === 'histogram';
  });
}

/** What the primary knows of the service that no worker's registry can say. */
export interface ClusterMetrics {
  /**
   * Whether a worker's start is being retried because the policy files on disk do not load:
   * meanwhile every scrape reads `pdp_policy_last_reload_successful` 0, however the last
   * reloads of the workers serving an older set went.
   */
  policiesRefused(refused: boolean): void;
  /**
   * How many workers are waiting out the delay before their start is tried again: no process
   * runs for them meanwhile, and each scrape counts them `not_ready`, as a worker starting.
   */
  waitingToStart(count: number): void;
}

/** One scrape in the primary: the workers it still waits for and those that answered. */
interface Gather {
  readonly waiting: Set<number>;
  readonly answered: Set<number>;
  failed: number;
  finish(): void;
}

/**
 * In the cluster primary: answers a worker's request for the whole process's metrics. It asks
 * every worker that said it can answer (a worker starting up cannot yet) and has not said it is
 * stopping (draining, it is not ready, and may not answer before it exits), waits at most
 * `gatherTimeoutMs`, and sums the registries that arrived with the primary's own default metrics
 * (prom-client's `AggregatorRegistry.aggregate`, each metric by its `aggregator`;
 * `process_max_fds` by the lowest) and its own `pdp_policy_last_reload_successful`, which the
 * returned `policiesRefused` sets and the lowest takes. `pdp_cluster_scrape_workers{result}`
 * says how many workers the sum covers (`answered`) and how many it misses: `timed_out` (hung
 * or busy, or still owing the previous scrape's answer: it is not asked again until that
 * arrives), `failed`, `not_ready` (starting, waiting for its start to be tried again, or
 * stopping). A worker's counters and histograms as
 * it last answered stay in the sum while it misses a scrape, and after it exits: the sum of a
 * counter never goes down, which Prometheus would read as a reset, and count the whole of what
 * is left as new.
 */
export function serveClusterMetrics(): ClusterMetrics {
  // As prom-client's default metric reckons it.
  const startedSeconds = Math.round(Date.now() / 1000 - process.uptime());
  // The primary's own memory, CPU and file descriptors (it relays every audit line), in the sum.
  const own = new Registry();
  collectDefaultMetrics({ register: own });
  const lastReloadSuccessful = lastReloadSuccessfulGauge(own);
  lastReloadSuccessful.set(1);
  const ready = new Set<number>();
  /** Workers whose start is to be tried again, with no process yet (`waitingToStart`). */
  let waiting = 0;
  /** Workers that said they are stopping: not ready, though their answers to a question already asked still count. */
  const stopping = new Set<number>();
  /** Worker id → the scrape whose question it has not answered yet. */
  const owing = new Map<number, number>();
  const gathers = new Map<number, Gather>();
  /** Worker id → its registry as it last answered. */
  const last = new Map<number, readonly object[]>();
  /** The counters and histograms of the workers that exited, as each last answered. */
  let retired: (readonly object[])[] = [];
  let compacting = false;
  /** Sums the exited workers' metrics into one list, so they do not pile up over restarts. */
  const compact = () => {
    if (compacting || retired.length < 2) return;
    compacting = true;
    const taken = retired.length;
    AggregatorRegistry.aggregate(retired.slice(0, taken) as object[])
      .getMetricsAsJSON()
      .then(
        (sum) => (retired = [sum, ...retired.slice(taken)]),
        () => undefined,
      )
      .finally(() => {
        compacting = false;
        compact();
      });
  };
  let nextId = 0;

  const gather = () =>
    new Promise<{ parts: (readonly object[])[]; count: Record<Result, number> }>((resolve) => {
      const id = nextId++;
      const count: Record<Result, number> = { answered: 0, timed_out: 0, failed: 0, not_ready: waiting };
      const asked: Worker[] = [];
      for (const worker of Object.values(cluster.workers ?? {})) {
        if (worker === undefined) continue;
        if (!ready.has(worker.id) || stopping.has(worker.id) || !worker.isConnected()) count.not_ready += 1;
        else if (owing.has(worker.id)) count.timed_out += 1;
        else asked.push(worker);
      }
      const state: Gather = {
        waiting: new Set(asked.map((w) => w.id)),
        answered: new Set(),
        failed: 0,
        finish: () => {
          clearTimeout(timer);
          gathers.delete(id);
          count.answered = state.answered.size;
          count.failed = state.failed;
          count.timed_out += state.waiting.size;
          // Those that answered in full; the others, and those gone, by their counters as last read.
          const parts = [...last].map(([worker, metrics]) => (state.answered.has(worker) ? metrics : cumulative(metrics)));
          resolve({ parts: [...parts, ...retired], count });
        },
      };
      const timer = setTimeout(state.finish, gatherTimeoutMs);
      gathers.set(id, state);
      for (const worker of asked) {
        owing.set(worker.id, id);
        worker.send({ type: gatherType, id }, (error: Error | null) => {
          if (error !== null) answered(worker, { type: partType, id, error: error.message });
        });
      }
      if (asked.length === 0) state.finish();
    });

  // Scrapes that come while one is gathering share its answers: asked again, a worker still
  // answering the first would be counted as owing it, and left out of the others.
  let inflight: ReturnType<typeof gather> | undefined;
  const sharedGather = () =>
    (inflight ??= gather().finally(() => {
      inflight = undefined;
    }));

  const answered = (worker: Worker, part: Part) => {
    if (owing.get(worker.id) === part.id) owing.delete(worker.id);
    const fresh = part.metrics !== undefined && part.error === undefined;
    if (fresh && ready.has(worker.id)) last.set(worker.id, part.metrics);
    const state = gathers.get(part.id);
    if (state === undefined || !state.waiting.delete(worker.id)) return;
    if (fresh) state.answered.add(worker.id);
    else state.failed += 1;
    if (state.waiting.size === 0) state.finish();
  };

  // A worker that exits will not answer: it counts as failed in the scrapes that wait for it,
  // and its counters stay in every sum from now on, as it last answered.
  cluster.on('exit', (worker) => {
    ready.delete(worker.id);
    stopping.delete(worker.id);
    const metrics = last.get(worker.id);
    last.delete(worker.id);
    if (metrics !== undefined && metrics.length > 0) {
      retired.push(cumulative(metrics));
      compact();
    }
    for (const id of [...gathers.keys()]) answered(worker, { type: partType, id, error: 'exited' });
    owing.delete(worker.id);
  });

  cluster.on('message', (worker, message: unknown) => {
    if (isMessage(message, readyType)) ready.add(worker.id);
    else if (isMessage(message, stoppingType)) stopping.add(worker.id);
    else if (isMessage<Part>(message, partType)) answered(worker, message);
    else if (isMessage<Request>(message, requestType)) {
      // The worker may be gone with its channel not yet seen closed: the write then fails, and
      // without a callback Node emits that failure as an 'error' no one hears, which stops the primary.
      const reply = (answer: Omit<MetricsResponse, 'type' | 'id'>) => {
        if (worker.isConnected()) worker.send({ type: responseType, id: message.id, ...answer }, () => undefined);
      };
      Promise.all([sharedGather(), own.getMetricsAsJSON()])
        .then(([{ parts, count }, primary]) => {
          const registry = AggregatorRegistry.aggregate([...parts, primary].map(perProcessLimits) as object[]);
          const workers = new Gauge({
            name: 'pdp_cluster_scrape_workers',
            help: 'Workers in this scrape\'s cluster-wide sum (answered) and those left out of it, by why.',
            labelNames: ['result'] as const,
            registers: [registry],
          });
          for (const result of results) workers.set({ result }, count[result]);
          // prom-client leaves the workers' start times out of a sum; the service started with
          // the primary, and a worker replaced after a crash does not restart it.
          new Gauge({ name: 'process_start_time_seconds', help: 'Start time of the process since unix epoch in seconds.', registers: [registry] }).set(startedSeconds);
          return registry.metrics();
        })
        .then(
          (text) => reply({ text }),
          (error: unknown) => reply({ error: error instanceof Error ? error.message : String(error) }),
        );
    }
  });
  return {
    policiesRefused: (refused) => lastReloadSuccessful.set(refused ? 0 : 1),
    waitingToStart: (count) => (waiting = count),
  };
}

/**
 * In a cluster worker, tells the primary that this worker has begun to stop: draining, it is
 * not ready, and scrapes leave it out (`not_ready`, its counters as it last answered) rather
 * than ask it. Nothing outside a worker.
 */
export function tellMetricsStopping(): void {
  if (cluster.isWorker && process.send !== undefined && process.connected) process.send({ type: stoppingType }, undefined, undefined, () => undefined);
}

/**
 * The cluster's metrics could not be had from the primary (it did not answer in time, is gone,
 * or failed to sum them): the scrape is to be tried again, not a fault of the service's own.
 */
export class MetricsUnavailableError extends Error {
  override readonly name = 'MetricsUnavailableError';
}

/**
 * The metrics of this process: the registry itself when running alone; in a cluster worker, the
 * cluster-wide aggregate, asked of the primary over IPC (the primary must run
 * `serveClusterMetrics`). A worker also answers the primary's requests for its own registry,
 * and tells the primary once it can.
 */
export function metricsSource(registry: Registry): MetricsSource {
  if (!cluster.isWorker) return { contentType: registry.contentType, metrics: () => registry.metrics() };
  const pending = new Map<number, { resolve: (text: string) => void; reject: (error: MetricsUnavailableError) => void }>();
  let nextId = 0;
  const send = (message: object) => {
    if (process.send !== undefined && process.connected) process.send(message, undefined, undefined, () => undefined);
  };
  process.on('message', (message: unknown) => {
    if (isMessage<Request>(message, gatherType)) {
      registry.getMetricsAsJSON().then(
        (metrics) => send({ type: partType, id: message.id, metrics }),
        (error: unknown) => send({ type: partType, id: message.id, error: String(error) }),
      );
      return;
    }
    if (!isMessage<MetricsResponse>(message, responseType)) return;
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.error !== undefined) waiter?.reject(new MetricsUnavailableError(`cluster metrics: ${message.error}`));
    else waiter?.resolve(message.text ?? '');
  });
  send({ type: readyType });
  return {
    contentType: registry.contentType,
    metrics: () =>
      new Promise<string>((resolve, reject) => {
        if (process.send === undefined || !process.connected) {
          reject(new MetricsUnavailableError('cluster metrics: not connected to the primary'));
          return;
        }
        const id = nextId++;
        const fail = (reason: string) => {
          pending.delete(id);
          clearTimeout(timer);
          reject(new MetricsUnavailableError(`cluster metrics: ${reason}`));
        };
        const timer = setTimeout(() => fail(`no answer from the primary within ${scrapeTimeoutMs} ms`), scrapeTimeoutMs);
        pending.set(id, {
          resolve: (text) => {
            clearTimeout(timer);
            resolve(text);
          },
          reject: (error) => {
            clearTimeout(timer);
            reject(error);
          },
        });
        const request: Request = { type: requestType, id };
        // The primary may be gone with the channel not yet seen closed: the write then fails.
        process.send(request, undefined, undefined, (error: Error | null) => {
          if (error !== null) fail(`the request did not reach the primary (${error.message})`);
        });
      }),
  };
}
