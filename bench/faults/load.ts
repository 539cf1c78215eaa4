/**
 * The load process: a second process that drives POST /decide on 127.0.0.1 and counts
 * what comes back against the oracle. Started by the harness (lib/load-client.ts) with a
 * LoadConfig as its one argument; see lib/load-protocol.ts for what it says.
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createInterface } from 'node:readline';
import fc from 'fast-check';
import { holdRequest } from '../../test/helpers/raw-http.js';
import { invoiceDecideBody } from '../../test/oracle/arbitraries.js';
import { expectedDecision, questionFromBody, type Expected } from '../../test/oracle/invoice-rules.js';
import { hostileRequests, type Planned } from './lib/hostile.js';
import { Ledger, type Done } from './lib/ledger.js';
import { emptyCounts, epochNow, latencyOf, type Counts, type LoadConfig, type LoadEvent, type Mark, type Tally, type TokenPair } from './lib/load-protocol.js';

const config = JSON.parse(process.argv[2] ?? '{}') as LoadConfig;
const clientTimeoutMs = 10_000;

function emit(event: LoadEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

const marks: Mark[] = [];
createInterface({ input: process.stdin }).on('line', (line) => {
  const mark = JSON.parse(line) as Mark;
  marks.push(mark);
});

/** A decision request and the oracle's answer for its subject; sent with `token` in the subject's place when given. */
function decideRequest(kind: string, body: Readonly<Record<string, unknown>>, token?: string): Planned {
  const question = questionFromBody(body);
  const decision: Expected = question === undefined ? 'deny' : expectedDecision(question);
  const sent = token === undefined ? body : { ...body, subject: undefined, token };
  return { kind, body: JSON.stringify(sent), headers: { 'content-type': 'application/json' }, expect: { status: 200, decision, ...(token !== undefined && { verifiesToken: true }) } };
}

// Through JSON once, so the oracle sees the bodies exactly as the service will (-0 as 0, …).
const bodies = fc.sample(invoiceDecideBody, { seed: config.seed, numRuns: 2_000 }).map((body) => JSON.parse(JSON.stringify(body)) as Record<string, unknown>);
const valid: Planned[] = bodies.map((body) => decideRequest('decide', body));
const hostile = hostileRequests();

/** A token set's requests (pair i with body i), and which one goes next. */
const tokenSets = (config.tokens ?? []).map((set) => {
  const pairs = JSON.parse(readFileSync(set.file, 'utf8')) as TokenPair[];
  const requests = pairs.map((pair, i) => decideRequest(set.kind, { ...bodies[i % bodies.length], subject: pair.subject }, pair.token));
  return { set, requests, next: 0 };
});

type Outcome = keyof Counts;

const done = new Ledger();
let intervalLatencies: number[] = [];
let intervalCounts = emptyCounts();
// A client that keeps idle connections past the service's keep-alive timeout (Node's 5 s,
// announced in `Keep-Alive: timeout=5`) races the service closing them and sees resets.
// With an agent timeout set, Node honours the announcement and drops idle sockets a second
// early, as a well-configured gateway does; without one it ignores it. The agent timeout
// must differ from the request timeout, or Node leaves the shortened idle timeout on a
// reused socket for the whole request.
const agent = new Agent({ keepAlive: true, maxSockets: config.concurrency, timeout: 60_000 });

function isInvalidToken(reason: unknown): boolean {
  return typeof reason === 'object' && reason !== null && (reason as { code?: unknown }).code === 'invalid_token';
}

function judge(planned: Planned, status: number, body: string): Outcome[] {
  const outcomes: Outcome[] = ['sent', 'answered'];
  if (status >= 500) outcomes.push('status5xx');
  if (status !== planned.expect.status) return [...outcomes, 'unexpectedStatus'];
  if (planned.expect.decision === undefined) return [...outcomes, 'correct'];
  let answer: { decision?: unknown; reasons?: unknown };
  try {
    answer = JSON.parse(body) as typeof answer;
  } catch {
    return [...outcomes, 'unexpectedStatus'];
  }
  const { decision, reasons } = answer;
  if (planned.expect.verifiesToken === true && decision === 'deny' && Array.isArray(reasons) && reasons.some(isInvalidToken)) return [...outcomes, 'tokenRefused'];
  if (decision === planned.expect.decision) return [...outcomes, 'correct'];
  return [...outcomes, decision === 'permit' ? 'wrongPermit' : 'wrongDeny'];
}

function failure(planned: Planned, error: NodeJS.ErrnoException): Outcome[] {
  if (error.code === 'ECONNREFUSED') return ['sent', 'refused'];
  if (error.code === 'ECONNRESET' || error.code === 'EPIPE') {
    return planned.expect.mayCloseEarly === true ? ['sent', 'closedWhileSending', 'correct'] : ['sent', 'reset'];
  }
  if (error.code === 'ETIMEDOUT') return ['sent', 'timedOut'];
  return ['sent', 'otherErrors'];
}

function record(entry: Done): void {
  done.add(entry);
  for (const outcome of entry.outcomes) intervalCounts[outcome]++;
  if (entry.latency !== undefined) intervalLatencies.push(entry.latency);
}

function send(planned: Planned): Promise<Done> {
  const start = epochNow();
  const began = performance.now();
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port: config.port, method: 'POST', path: '/decide', headers: planned.headers, agent, timeout: clientTimeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('end', () => {
        const status = res.statusCode ?? 0;
        resolve({ start, kind: planned.kind, status, latency: performance.now() - began, outcomes: judge(planned, status, Buffer.concat(chunks).toString('utf8')) });
      });
      res.once('error', (error: NodeJS.ErrnoException) => resolve({ start, kind: planned.kind, outcomes: failure(planned, error), error: error.code ?? error.message }));
    });
    req.once('timeout', () => req.destroy(Object.assign(new Error('client timeout'), { code: 'ETIMEDOUT' })));
    req.once('error', (error: NodeJS.ErrnoException) => resolve({ start, kind: planned.kind, outcomes: failure(planned, error), error: error.code ?? error.message }));
    req.end(planned.body);
  });
}

let next = 0;
function plan(): Planned {
  next++;
  const share = config.hostileShare ?? 0;
  // Spread hostile requests evenly: one every 1/share requests.
  if (share > 0 && next % Math.max(1, Math.round(1 / share)) === 0) return hostile[next % hostile.length] as Planned;
  // Token mode: the sets in use so far, in turn; subjects only while none is.
  const sets = tokenSets.filter(({ set }) => set.fromMark === undefined || marks.some((m) => m.mark === set.fromMark));
  const tokens = sets[next % Math.max(1, sets.length)];
  if (tokens !== undefined) return tokens.requests[tokens.next++ % tokens.requests.length] as Planned;
  return valid[next % valid.length] as Planned;
}

async function runHeld(held: NonNullable<LoadConfig['held']>, heldCounts: Counts): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, held.afterMs));
  const planned = valid.slice(0, held.count);
  const requests = await Promise.all(planned.map((p) => holdRequest(config.port, '/decide', p.body)));
  emit({ event: 'held-open', at: epochNow(), count: requests.length });
  await new Promise((resolve) => setTimeout(resolve, held.holdMs));
  await Promise.all(
    requests.map(async (held, i) => {
      heldCounts.sent++;
      held.finish();
      try {
        const answer = await held.response;
        for (const outcome of judge(planned[i] as Planned, answer.status, answer.body).slice(1)) heldCounts[outcome]++;
      } catch {
        heldCounts.reset++;
      }
      held.socket.destroy();
    }),
  );
}

/** Counts and latencies of a set of finished requests, as they are gathered. */
class Gathering {
  readonly counts = emptyCounts();
  readonly latencies: number[] = [];

  add(entry: Done): this {
    for (const outcome of entry.outcomes) this.counts[outcome]++;
    if (entry.latency !== undefined) this.latencies.push(entry.latency);
    return this;
  }

  tally(): Tally {
    return { counts: this.counts, latency: latencyOf(this.latencies) };
  }
}

async function main(): Promise<void> {
  const startedAt = epochNow();
  const began = performance.now();
  emit({ event: 'started', at: startedAt });
  const heldCounts = emptyCounts();
  const heldRun = config.held === undefined ? Promise.resolve() : runHeld(config.held, heldCounts);
  const emitInterval = () => {
    emit({ event: 'interval', at: epochNow(), counts: intervalCounts, latency: latencyOf(intervalLatencies) });
    intervalCounts = emptyCounts();
    intervalLatencies = [];
  };
  const ticker = config.intervalMs === undefined ? undefined : setInterval(emitInterval, config.intervalMs);

  let started = 0;
  let refusedSince: number | undefined;
  const keepGoing = () => {
    if (started >= config.maxRequests || performance.now() - began >= config.durationMs) return false;
    return refusedSince === undefined || config.stopAfterRefusedMs === undefined || performance.now() - refusedSince < config.stopAfterRefusedMs;
  };
  const slot = async (): Promise<void> => {
    while (keepGoing()) {
      // Take the next slot in the schedule before waiting for it, so paced requests go out
      // one at a time at their own instants rather than in bursts.
      const index = started++;
      if (config.ratePerSecond !== undefined) {
        const wait = began + (index * 1000) / config.ratePerSecond - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        if (performance.now() - began >= config.durationMs) return;
      }
      const result = await send(plan());
      record(result);
      if (result.outcomes.includes('refused')) {
        refusedSince ??= performance.now();
        // Nothing listens: do not spin.
        await new Promise((resolve) => setTimeout(resolve, 10));
      } else {
        refusedSince = undefined;
      }
    }
  };
  await Promise.all(Array.from({ length: config.concurrency }, slot));
  await heldRun;
  if (ticker !== undefined) {
    clearInterval(ticker);
    // The requests since the last tick: without them the intervals would miss the run's end.
    if (intervalCounts.sent > 0) emitInterval();
  }
  agent.destroy();

  const total = new Gathering();
  const statuses: Record<string, number> = {};
  const kinds: Record<string, Counts> = {};
  const misses: Record<string, Record<string, number>> = {};
  const boundaries = [{ name: 'start', from: startedAt }, ...[...marks].sort((a, b) => a.at - b.at).map((m) => ({ name: m.mark, from: m.at }))];
  const phases = boundaries.map((b) => ({ ...b, all: new Gathering(), kinds: new Map<string, Gathering>() }));
  for (const entry of done.entries()) {
    const phase = phases.findLast((p) => p.from <= entry.start) ?? phases[0];
    total.add(entry);
    phase?.all.add(entry);
    phase?.kinds.set(entry.kind, (phase.kinds.get(entry.kind) ?? new Gathering()).add(entry));
    if (entry.status !== undefined) statuses[entry.status] = (statuses[entry.status] ?? 0) + 1;
    if (!entry.outcomes.includes('correct')) {
      const byOutcome = (misses[entry.kind] ??= {});
      const how = entry.outcomes.at(-1) === 'unexpectedStatus' ? `status ${entry.status}` : `${entry.outcomes.at(-1) ?? 'unknown'} (${entry.error ?? '?'})`;
      byOutcome[how] = (byOutcome[how] ?? 0) + 1;
    }
    const ofKind = (kinds[entry.kind] ??= emptyCounts());
    for (const outcome of entry.outcomes) ofKind[outcome]++;
  }
  emit({
    event: 'done',
    at: epochNow(),
    summary: {
      startedAt,
      endedAt: epochNow(),
      total: total.counts,
      latency: latencyOf(total.latencies),
      phases: phases.map((p) => ({ name: p.name, from: p.from, ...p.all.tally(), kinds: Object.fromEntries([...p.kinds].map(([kind, g]) => [kind, g.tally()])) })),
      ...(config.held !== undefined && { held: heldCounts }),
      kinds,
      misses,
      statuses,
    },
  });
  process.exit(0);
}

void main();
