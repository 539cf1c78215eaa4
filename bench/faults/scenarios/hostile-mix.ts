import { allAnswered, no5xx, noWrongDecisions } from '../lib/checks.js';
import { check, type Scenario } from '../lib/scenario.js';

/** Every limit broken on purpose, mixed into ordinary traffic. */
export const hostileMix: Scenario = {
  name: 'hostile-mix',
  title: 'Limits under load: 10% of requests break a limit or try a trick',
  async run({ quick, spawnServer, startLoad }) {
    const server = spawnServer();
    const port = await server.listening;
    const durationMs = quick ? 1_000 : 5_000;
    const load = startLoad({ port, concurrency: 32, durationMs, maxRequests: 1_000_000, seed: 2, hostileShare: 0.1 });
    const summary = await load.done;
    const health = await fetch(`http://127.0.0.1:${port}/healthz`).then((res) => res.status, () => 0);
    const kinds = Object.entries(summary.kinds).filter(([kind]) => kind !== 'decide');
    const misanswered = kinds.filter(([, counts]) => counts.correct !== counts.sent);
    return {
      tried: `${durationMs / 1000} s from 32 connections; one request in ten too deep, too long, too large, malformed, of the wrong media type, or carrying a bare token or prototype keys`,
      counts: summary.total,
      checks: [
        allAnswered(summary.total),
        check(
          'every kind of hostile request got its own answer',
          kinds.length > 0 && misanswered.length === 0,
          kinds.map(([kind, c]) => `${kind}: ${c.correct}/${c.sent}${c.closedWhileSending > 0 ? ` (${c.closedWhileSending} by closing)` : ''}`).join('; '),
        ),
        noWrongDecisions(summary.total),
        no5xx(summary.total),
        check('the service still answers afterwards', health === 200, `GET /healthz → ${health}`),
      ],
      figures: { 'p99 ms': summary.latency.p99, statuses: JSON.stringify(summary.statuses), misses: JSON.stringify(summary.misses) },
    };
  },
};
