import { setTimeout as sleep } from 'node:timers/promises';
import { RedisServer } from '../../../test/helpers/redis-server.js';
import { latencyBounded, no5xx, noWrongDecisions } from '../lib/checks.js';
import { DelayProxy } from '../lib/delay-proxy.js';
import type { LoadRun } from '../lib/load-client.js';
import type { LoadSummary } from '../lib/load-protocol.js';
import { everyPhaseAnswered, phaseLatencyFigures, phase, warmingUp, warmUpMs } from '../lib/phases.js';
import { check, type Check, type Scenario } from '../lib/scenario.js';
import { stopServer } from '../lib/server-exit.js';
import { call, countersBetween, RedisWatch, servedFromRedis, serviceCounters, type ServiceCounters } from '../lib/service-probe.js';

const deadlineMs = 20;
const chunkDelayMs = 50;
const labels = {
  start: warmingUp,
  before: 'before',
  'redis stopped': 'while Redis was stopped',
  'redis resumed': 'after SIGCONT',
  'redis slow': `while every chunk took ${chunkDelayMs} ms more`,
  'redis on time': 'after the delay was lifted',
};

/** One spell of slowness: when it began and ended, what /readyz and the counters said. */
interface Spell {
  readonly name: 'redis stopped' | 'redis slow';
  readonly endMark: 'redis resumed' | 'redis on time';
  readonly startedAt: number;
  readonly endedAt: number;
  /** What the service counted during it. */
  readonly counted: ServiceCounters;
  readonly recoveryMs: number | undefined;
}

/** Runs `begin` … `end` under load as phase `name`, then phase `endMark` until Redis is up again (or `recoverMs` passes). */
async function spell(
  load: LoadRun,
  watch: RedisWatch,
  port: number,
  marks: Pick<Spell, 'name' | 'endMark'>,
  timing: { slowMs: number; recoverMs: number },
  begin: () => void,
  end: () => void,
): Promise<Spell> {
  const before = await serviceCounters(port);
  load.mark(marks.name);
  const startedAt = performance.now();
  begin();
  await sleep(timing.slowMs);
  end();
  const endedAt = performance.now();
  load.mark(marks.endMark);
  const counted = countersBetween(before, await serviceCounters(port));
  const upAt = await watch.waitFor('up', endedAt, timing.recoverMs);
  return { ...marks, startedAt, endedAt, counted, recoveryMs: upAt === undefined ? undefined : Math.round(upAt - endedAt) };
}

function spellChecks(summary: LoadSummary, watch: RedisWatch, s: Spell): Check[] {
  const slow = phase(summary, s.name);
  const c = s.counted;
  const tried = c.redisHit + c.redisMiss + c.redisError;
  const downAt = watch.firstAt('down', s.startedAt);
  const label = labels[s.name];
  return [
    latencyBounded(label, c, slow, phase(summary, 'before'), deadlineMs),
    check(
      `the breaker opened ${label} and kept requests off Redis`,
      downAt !== undefined && downAt < s.endedAt && c.redisError > 0 && tried <= slow.counts.sent * 0.1,
      `/readyz down ${downAt === undefined ? 'never' : `${Math.round(downAt - s.startedAt)} ms in`}; ${tried} of ${slow.counts.sent} requests tried Redis (${c.redisError} errors)`,
    ),
    check(`Redis in use again ${labels[s.endMark]}`, s.recoveryMs !== undefined, `/readyz up ${s.recoveryMs ?? 'never'} ms after`),
  ];
}

/**
 * The decision cache's Redis slow mid-load, two ways: the redis-server process stopped
 * (SIGSTOP: connections stay open, nothing answers) and resumed, then every chunk on the
 * connection held back by a proxy for longer than the cache deadline (replies come, late).
 * Lookups give up at the deadline, the breaker opens, decisions are evaluated, and Redis is
 * taken back once a probe succeeds.
 */
export const redisSlow: Scenario = {
  name: 'redis-slow',
  title: 'Redis unresponsive, then slow, under load',
  async run({ quick, spawnServer, startLoad }) {
    const [warmMs, slowMs, recoverMs] = quick ? [1_500, 1_000, 2_500] : [4_000, 3_000, 6_000];
    const redis = await RedisServer.start();
    const proxy = await DelayProxy.start(redis.port);
    try {
      const server = spawnServer({ REDIS_URL: `redis://127.0.0.1:${proxy.port}`, REDIS_COMMAND_TIMEOUT_MS: String(deadlineMs) });
      const port = await server.listening;
      const watch = new RedisWatch(port);
      await watch.waitFor('up', 0, 5_000);
      const load = startLoad({ port, concurrency: 64, ratePerSecond: 500, durationMs: warmMs + 2 * (slowMs + recoverMs), maxRequests: 1e9, seed: 7 });
      await load.waitFor('started');
      await sleep(warmUpMs);
      load.mark('before');
      await sleep(warmMs - warmUpMs);
      const timing = { slowMs, recoverMs };
      const stopped = await spell(load, watch, port, { name: 'redis stopped', endMark: 'redis resumed' }, timing, () => void redis.kill('SIGSTOP'), () => void redis.kill('SIGCONT'));
      // The recovery wait ends early once Redis is up: keep the phase its full length.
      await sleep(Math.max(0, stopped.endedAt + recoverMs - performance.now()));
      const delayed = await spell(load, watch, port, { name: 'redis slow', endMark: 'redis on time' }, timing, () => (proxy.delayMs = chunkDelayMs), () => (proxy.delayMs = 0));

      const summary = await load.done;
      const probe = await servedFromRedis(port, watch);
      const ready = await call(port, '/readyz');
      await watch.stop();
      await stopServer(server);

      return {
        tried: `500 requests/s from up to 64 connections, decision cache on Redis (memory layer off, ${deadlineMs} ms deadline); redis-server SIGSTOPped for ${slowMs / 1000} s, then every chunk both ways held ${chunkDelayMs} ms by a proxy for ${slowMs / 1000} s`,
        counts: summary.total,
        checks: [
          ...everyPhaseAnswered(summary, labels),
          noWrongDecisions(summary.total),
          no5xx(summary.total),
          ...spellChecks(summary, watch, stopped),
          ...spellChecks(summary, watch, delayed),
          check(
            'the service serves normally afterwards, from Redis',
            ready.status === 200 && probe.decisions.every((d) => d === 'permit') && probe.secondFrom === 'redis',
            `GET /readyz → ${ready.status}; a new decision asked twice: ${probe.decisions.join(', ')}, the second from ${String(probe.secondFrom)} (question ${probe.tries})`,
          ),
        ],
        figures: {
          ...phaseLatencyFigures(summary, labels),
          'Redis back in use after SIGCONT, ms': stopped.recoveryMs ?? 'never',
          'after the delay was lifted, ms': delayed.recoveryMs ?? 'never',
        },
      };
    } finally {
      await proxy.close();
      await redis.stop();
    }
  },
};
