import { setTimeout as sleep } from 'node:timers/promises';
import { sample } from '../../../test/helpers/telemetry.js';

/** An answer of the service: status (0 when it could not be reached) and JSON body, if any. */
export interface Answer {
  readonly status: number;
  readonly body: unknown;
}

/** One request to the service on 127.0.0.1 from the harness (not the load process). */
export async function call(port: number, path: string, init: RequestInit = {}): Promise<Answer> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { ...init, signal: AbortSignal.timeout(5_000) });
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    return { status: res.status, body };
  } catch {
    return { status: 0, body: undefined };
  }
}

/** Counters read from /metrics: Redis cache lookups by result, and /decide decisions by duration. */
export interface ServiceCounters {
  readonly redisHit: number;
  readonly redisMiss: number;
  readonly redisError: number;
  readonly decisions: number;
  /** Decisions that took over 50 ms inside the service (a histogram bucket bound). */
  readonly decisionsOver50ms: number;
  /** The service's longest event-loop delay since the scrape before, ms (prom-client resets it on each scrape). */
  readonly eventLoopLagMaxMs: number;
}

export async function serviceCounters(port: number): Promise<ServiceCounters> {
  const { body } = await call(port, '/metrics');
  const text = typeof body === 'string' ? body : '';
  const redis = (result: string) => sample(text, 'pdp_cache_requests_total', { layer: 'redis', result }) ?? 0;
  const decided = (le: string) => sample(text, 'pdp_decision_duration_seconds_bucket', { endpoint: 'decide', le }) ?? 0;
  return {
    redisHit: redis('hit'),
    redisMiss: redis('miss'),
    redisError: redis('error'),
    decisions: decided('+Inf'),
    decisionsOver50ms: decided('+Inf') - decided('0.05'),
    eventLoopLagMaxMs: (sample(text, 'nodejs_eventloop_lag_max_seconds') ?? 0) * 1000,
  };
}

/** What happened between two readings of the counters. */
export function countersBetween(before: ServiceCounters, after: ServiceCounters): ServiceCounters {
  const delta = (key: keyof ServiceCounters) => after[key] - before[key];
  return {
    redisHit: delta('redisHit'),
    redisMiss: delta('redisMiss'),
    redisError: delta('redisError'),
    decisions: delta('decisions'),
    decisionsOver50ms: delta('decisionsOver50ms'),
    eventLoopLagMaxMs: after.eventLoopLagMaxMs,
  };
}

/** Redis lookups as `hits / misses / errors`. */
export function lookupsText(c: ServiceCounters): string {
  return `${c.redisHit} / ${c.redisMiss} / ${c.redisError}`;
}

/** A decision nobody else asks for (its own subject id), so its cache key is new: a permit. */
function freshDecideBody(): string {
  return JSON.stringify({
    subject: { id: `probe-${process.hrtime.bigint()}`, properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } },
    action: 'read',
    resource: { type: 'invoice', id: 'inv-probe', properties: { invoice_type: 'purchase', region: 'EU' } },
  });
}

/** A new question asked twice, a moment apart: both decisions, and where the second came from. */
export interface AskedTwice {
  readonly decisions: readonly unknown[];
  /** `redis` when the first decision was written to Redis and read back from it. */
  readonly secondFrom: unknown;
  /** How many questions it took (see `servedFromRedis`). */
  readonly tries: number;
}

async function askTwice(port: number): Promise<Omit<AskedTwice, 'tries'>> {
  const body = freshDecideBody();
  const ask = () => call(port, '/decide', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const first = await ask();
  // The write is not waited for by the service; give it a moment to land.
  await sleep(50);
  const second = await ask();
  const field = (answer: Answer, name: string) => (typeof answer.body === 'object' && answer.body !== null ? (answer.body as Record<string, unknown>)[name] : undefined);
  return { decisions: [field(first, 'decision'), field(second, 'decision')], secondFrom: field(second, 'cached') ?? 'evaluated' };
}

/** `/readyz` at each poll: its status and `redis` field, and when it was read (performance.now()). */
export class RedisWatch {
  readonly readings: { readonly at: number; readonly status: number; readonly state: string }[] = [];
  #running = true;
  readonly #loop: Promise<void>;

  constructor(port: number, everyMs = 50) {
    this.#loop = (async () => {
      while (this.#running) {
        const { status, body } = await call(port, '/readyz');
        const state = typeof body === 'object' && body !== null ? String((body as Record<string, unknown>)['redis']) : 'unreachable';
        this.readings.push({ at: performance.now(), status, state });
        await sleep(everyMs);
      }
    })();
  }

  /** When `state` was first read at or after `from`; undefined if it never was. */
  firstAt(state: string, from: number): number | undefined {
    return this.readings.find((r) => r.at >= from && r.state === state)?.at;
  }

  /** Waits (up to `timeoutMs`) until `state` is read at or after `from`; when, or undefined. */
  async waitFor(state: string, from: number, timeoutMs: number): Promise<number | undefined> {
    const deadline = performance.now() + timeoutMs;
    while (this.firstAt(state, from) === undefined && performance.now() < deadline) await sleep(20);
    return this.firstAt(state, from);
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }
}

/**
 * Once /readyz says Redis is up, asks new questions twice each until the second answer comes
 * from Redis, up to three questions: on a busy machine a reply can miss the cache deadline
 * now and then, which opens the breaker for a while, as designed.
 */
export async function servedFromRedis(port: number, watch: RedisWatch): Promise<AskedTwice> {
  const tries = 3;
  let asked: Omit<AskedTwice, 'tries'> = { decisions: [], secondFrom: 'nothing asked' };
  for (let n = 1; n <= tries; n++) {
    await watch.waitFor('up', performance.now(), 10_000);
    asked = await askTwice(port);
    if (asked.secondFrom === 'redis') return { ...asked, tries: n };
  }
  return { ...asked, tries };
}
