import { allAnswered, no5xx, noWrongDecisions } from '../lib/checks.js';
import type { Scenario } from '../lib/scenario.js';

/** The baseline every fault is measured against: no fault at all. */
export const steadyLoad: Scenario = {
  name: 'steady-load',
  title: 'Baseline: concurrent load, no fault',
  async run({ quick, spawnServer, startLoad }) {
    const server = spawnServer();
    const port = await server.listening;
    const durationMs = quick ? 1_000 : 5_000;
    const load = startLoad({ port, concurrency: 32, durationMs, maxRequests: 1_000_000, seed: 1 });
    const summary = await load.done;
    return {
      tried: `${durationMs / 1000} s of decision requests from 32 concurrent connections, every answer checked against the oracle`,
      counts: summary.total,
      checks: [allAnswered(summary.total), noWrongDecisions(summary.total), no5xx(summary.total)],
      figures: {
        'requests/s': Math.round(summary.total.answered / ((summary.endedAt - summary.startedAt) / 1000)),
        'p50 ms': summary.latency.p50,
        'p99 ms': summary.latency.p99,
      },
    };
  },
};
