import { setTimeout as sleep } from 'node:timers/promises';
import { RedisServer } from '../../../test/helpers/redis-server.js';
import { latencyBounded, no5xx, noWrongDecisions } from '../lib/checks.js';
import { everyPhaseAnswered, phaseLatencyFigures, phase, warmingUp, warmUpMs } from '../lib/phases.js';
import { check, type Scenario } from '../lib/scenario.js';
import { stopServer } from '../lib/server-exit.js';
import { call, countersBetween, lookupsText, RedisWatch, servedFromRedis, serviceCounters } from '../lib/service-probe.js';

const deadlineMs = 20;
const labels = { start: warmingUp, before: 'before the kill', 'redis killed': 'while Redis was down', 'redis restarted': 'after the restart' };

/**
 * The decision cache's Redis killed (SIGKILL) mid-load, then started again on the same port,
 * empty. Decisions fall back to evaluation at once (the client drops a lost connection, and a
 * lookup is not even tried until it reconnects), and Redis is used again once it answers.
 */
export const redisKilled: Scenario = {
  name: 'redis-killed',
  title: 'Redis killed and restarted under load',
  async run({ quick, spawnServer, startLoad }) {
    const [warmMs, downMs, backMs] = quick ? [1_500, 1_000, 2_500] : [4_000, 3_000, 6_000];
    const redis = await RedisServer.start();
    try {
      // The memory layer stays off (the default): with it on, the load's repeated questions
      // would all be answered from memory and Redis would see none of them.
      const server = spawnServer({ REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: String(deadlineMs) });
      const port = await server.listening;
      const watch = new RedisWatch(port);
      await watch.waitFor('up', 0, 5_000);
      const load = startLoad({ port, concurrency: 64, ratePerSecond: 500, durationMs: warmMs + downMs + backMs, maxRequests: 1e9, seed: 6 });
      await load.waitFor('started');
      await sleep(warmUpMs);
      load.mark('before');
      await sleep(warmMs - warmUpMs);

      const beforeKill = await serviceCounters(port);
      load.mark('redis killed');
      const killedAt = performance.now();
      await redis.kill('SIGKILL');
      await sleep(downMs);
      const whileDown = await serviceCounters(port);
      await redis.restart();
      const restartedAt = performance.now();
      load.mark('redis restarted');
      const upAt = await watch.waitFor('up', restartedAt, backMs);

      const summary = await load.done;
      const afterRestart = await serviceCounters(port);
      const probe = await servedFromRedis(port, watch);
      const ready = await call(port, '/readyz');
      await watch.stop();
      await stopServer(server);

      const before = phase(summary, 'before');
      const down = phase(summary, 'redis killed');
      const downSeenAt = watch.firstAt('down', killedAt);
      const recoveryMs = upAt === undefined ? undefined : Math.round(upAt - restartedAt);
      const [during, after] = [countersBetween(beforeKill, whileDown), countersBetween(whileDown, afterRestart)];
      return {
        tried: `500 requests/s from up to 64 connections, decision cache on Redis (memory layer off); SIGKILL to redis-server after ${warmMs / 1000} s, restarted empty on the same port ${downMs / 1000} s later`,
        counts: summary.total,
        checks: [
          ...everyPhaseAnswered(summary, labels),
          noWrongDecisions(summary.total),
          no5xx(summary.total),
          latencyBounded('while Redis was down', during, down, before, deadlineMs),
          check(
            '/readyz reports Redis down during the outage, and stays 200',
            downSeenAt !== undefined && downSeenAt < restartedAt && watch.readings.every((r) => r.status === 200),
            `${downSeenAt === undefined ? 'never reported down' : `down ${Math.round(downSeenAt - killedAt)} ms after the kill`}; ${watch.readings.filter((r) => r.status === 200).length} of ${watch.readings.length} polls 200`,
          ),
          check(
            'Redis in use again after the restart',
            upAt !== undefined && after.redisHit + after.redisMiss > 0 && probe.secondFrom === 'redis',
            `/readyz up ${recoveryMs ?? 'never'} ms after redis-server answered; ${after.redisHit} hits, ${after.redisMiss} misses since; a new decision asked twice: the second from ${String(probe.secondFrom)} (question ${probe.tries})`,
          ),
          check('the service serves normally afterwards', ready.status === 200 && probe.decisions.every((d) => d === 'permit'), `GET /readyz → ${ready.status}; probe decisions ${probe.decisions.join(', ')}`),
        ],
        figures: {
          ...phaseLatencyFigures(summary, labels),
          'Redis back in use after the restart, ms': recoveryMs ?? 'never',
          'Redis lookups (hits / misses / errors) before the kill': lookupsText(beforeKill),
          'while down': lookupsText(during),
          'after the restart': lookupsText(after),
        },
      };
    } finally {
      await redis.stop();
    }
  },
};
