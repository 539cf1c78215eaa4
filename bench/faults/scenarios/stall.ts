import { setTimeout as sleep } from 'node:timers/promises';
import { allAnswered, no5xx, noWrongDecisions, unanswered } from '../lib/checks.js';
import type { LoadSummary } from '../lib/load-protocol.js';
import { check, type Scenario, type ScenarioContext } from '../lib/scenario.js';
import { stopServer } from '../lib/server-exit.js';

const pauseMs = 6_000;

/** Paced load; SIGSTOP for `pauseMs`; SIGCONT. Returns the load's summary and whether the service still answers. */
async function pauseUnderLoad({ quick, spawnServer, startLoad }: ScenarioContext, env: Record<string, string>): Promise<{ summary: LoadSummary; health: number }> {
  const server = spawnServer(env);
  const port = await server.listening;
  const load = startLoad({ port, concurrency: 64, ratePerSecond: 500, durationMs: quick ? 9_000 : 12_000, maxRequests: 1e9, seed: 5 });
  await load.waitFor('started');
  await sleep(2_000);
  load.mark('paused');
  server.child.kill('SIGSTOP');
  await sleep(pauseMs);
  load.mark('resumed');
  server.child.kill('SIGCONT');
  const summary = await load.done;
  const health = await fetch(`http://127.0.0.1:${port}/healthz`).then((res) => res.status, () => 0);
  await stopServer(server);
  return { summary, health };
}

const phaseLabel = (name: string) => (name === 'start' ? 'before the pause' : name === 'paused' ? 'during the pause' : 'after it');

/**
 * The service frozen mid-load (SIGSTOP, then SIGCONT): what a long GC pause, CPU starvation
 * or a paused VM looks like from outside. Requests wait; none may fail or be decided wrongly.
 * Run again with Node's default keep-alive timeout (5 s, shorter than the pause) to show why
 * the service keeps idle connections longer: a connection that expires during the pause is
 * closed on waking before the request already sent on it is read, and that request is reset.
 */
export const stall: Scenario = {
  name: 'stall',
  title: `The service frozen for ${pauseMs / 1000} s under paced load, then resumed`,
  async run(context) {
    const { summary, health } = await pauseUnderLoad(context, {});
    const short = await pauseUnderLoad(context, { KEEP_ALIVE_TIMEOUT_MS: '5000' });
    const caught = short.summary.phases.find((p) => p.name === 'paused')?.counts;
    return {
      tried: `500 requests/s from up to 64 keep-alive connections; SIGSTOP for ${pauseMs / 1000} s, then SIGCONT; again with KEEP_ALIVE_TIMEOUT_MS=5000`,
      counts: summary.total,
      checks: [
        ...summary.phases.map((phase) => allAnswered(phase.counts, `started ${phaseLabel(phase.name)}`)),
        noWrongDecisions(summary.total),
        no5xx(summary.total),
        check('the requests caught in the pause waited rather than failed', summary.latency.max >= pauseMs * 0.8, `slowest answer ${Math.round(summary.latency.max)} ms`),
        check('the service answers afterwards', health === 200, `GET /healthz → ${health}`),
        noWrongDecisions(short.summary.total, 'with a 5 s keep-alive timeout'),
      ],
      figures: {
        'slowest answer, ms': Math.round(summary.latency.max),
        'with a 5 s keep-alive timeout, requests started during the pause and reset': caught === undefined ? 'n/a' : `${unanswered(caught)} of ${caught.sent}`,
      },
    };
  },
};
