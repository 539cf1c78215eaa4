import cluster from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';

/** Where `/metrics` reads its exposition text. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

const requestType = 'invoice-pdp:cluster-metrics-request';
const responseType = 'invoice-pdp:cluster-metrics-response';

interface MetricsRequest {
  readonly type: typeof requestType;
  readonly id: number;
}

interface MetricsResponse {
  readonly type: typeof responseType;
  readonly id: number;
  readonly text?: string;
  readonly error?: string;
}

function isMessage<T extends { type: string }>(message: unknown, type: T['type']): message is T {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type;
}

/**
 * In the cluster primary: answers a worker's request for the whole process's metrics by
 * gathering every worker's registry (prom-client's AggregatorRegistry) and sending the sum back.
 */
export function serveClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: unknown) => {
    if (!isMessage<MetricsRequest>(message, requestType)) return;
    const reply = (answer: Omit<MetricsResponse, 'type' | 'id'>) => {
      if (worker.isConnected()) worker.send({ type: responseType, id: message.id, ...answer });
    };
    aggregator.clusterMetrics().then(
      (text) => reply({ text }),
      (error: unknown) => reply({ error: error instanceof Error ? error.message : String(error) }),
    );
  });
}

/**
 * The metrics of this process: the registry itself when running alone; in a cluster worker, the
 * sum over every worker, asked of the primary over IPC (the primary must run
 * `serveClusterMetrics`). In a worker the registry is also handed to prom-client's cluster
 * listener, which needs an AggregatorRegistry built in the worker too (prom-client #747).
 */
export function metricsSource(registry: Registry, timeoutMs = 5_000): MetricsSource {
  if (!cluster.isWorker) return { contentType: registry.contentType, metrics: () => registry.metrics() };
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
  const pending = new Map<number, { resolve: (text: string) => void; reject: (error: Error) => void }>();
  let nextId = 0;
  process.on('message', (message: unknown) => {
    if (!isMessage<MetricsResponse>(message, responseType)) return;
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.error !== undefined) waiter?.reject(new Error(`cluster metrics: ${message.error}`));
    else waiter?.resolve(message.text ?? '');
  });
  return {
    contentType: registry.contentType,
    metrics: () =>
      new Promise<string>((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`cluster metrics: no answer from the primary within ${timeoutMs} ms`));
        }, timeoutMs);
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
        if (process.send === undefined || !process.connected) {
          pending.get(id)?.reject(new Error('cluster metrics: not connected to the primary'));
          pending.delete(id);
          return;
        }
        const request: MetricsRequest = { type: requestType, id };
        process.send(request);
      }),
  };
}
