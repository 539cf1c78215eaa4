import { setTimeout as sleep } from 'node:timers/promises';
import { allAnswered, no5xx, noWrongDecisions } from '../lib/checks.js';
import { epochNow, type Counts } from '../lib/load-protocol.js';
import { check, type Scenario, type ScenarioContext, type ScenarioOutcome } from '../lib/scenario.js';
import { exitWithin, type Ending } from '../lib/server-exit.js';

interface Shape {
  readonly shutdownTimeoutMs: number;
  /** How long the held requests wait, after SIGTERM, before sending their last byte. */
  readonly holdAfterSignalMs: number;
}

function sum(a: Counts, b: Counts): Counts {
  const out = { ...a };
  for (const key of Object.keys(b) as (keyof Counts)[]) out[key] += b[key];
  return out;
}

/** Load, then SIGTERM while requests are held open mid-body; returns what each side saw. */
async function sigtermUnderLoad({ spawnServer, startLoad }: ScenarioContext, shape: Shape) {
  const server = spawnServer({ SHUTDOWN_TIMEOUT_MS: String(shape.shutdownTimeoutMs) });
  const port = await server.listening;
  const leadMs = 100;
  const load = startLoad({
    port,
    concurrency: 32,
    durationMs: 30_000,
    maxRequests: 10_000_000,
    seed: 3,
    stopAfterRefusedMs: 500,
    held: { count: 8, afterMs: 1_000, holdMs: leadMs + shape.holdAfterSignalMs },
  });
  await load.waitFor('held-open');
  await sleep(leadMs);
  const signalledAt = performance.now();
  load.mark('after SIGTERM', epochNow());
  server.child.kill('SIGTERM');
  // Well past SHUTDOWN_TIMEOUT_MS: a process still running then will not exit on its own.
  const ending = await exitWithin(server, shape.shutdownTimeoutMs + 2_000);
  const summary = await load.done;
  const [before, after] = [summary.phases[0]?.counts, summary.phases[1]?.counts];
  if (before === undefined || after === undefined || summary.held === undefined) throw new Error('load summary without its phases');
  return { ending, exitMs: Math.round(ending.exit.at - signalledAt), summary, before, after, held: summary.held, output: server.output() };
}

/** How the process ended after SIGTERM, for a check's detail. */
function exitText(ending: Ending, exitMs: number): string {
  return ending.hung ? `still running ${exitMs} ms after SIGTERM, killed` : `exit code ${ending.exit.code} after ${exitMs} ms`;
}

function afterSignalChecks(after: Counts) {
  const failed = after.sent - after.answered;
  return [
    noWrongDecisions(after, 'started after SIGTERM'),
    no5xx(after, 'started after SIGTERM'),
    check(
      'requests after SIGTERM are answered or refused, never left hanging',
      after.timedOut === 0 && after.otherErrors === 0 && failed === after.refused + after.reset,
      `${after.answered} answered (keep-alive connections draining), ${after.refused} refused, ${after.reset} closed, ${after.timedOut} timed out`,
    ),
  ];
}

/** SIGTERM while requests are in flight: they are answered, and the process exits well within its bound. */
export const sigtermDrain: Scenario = {
  name: 'sigterm-drain',
  title: 'SIGTERM during load: drain and exit',
  async run(context): Promise<ScenarioOutcome> {
    const shutdownTimeoutMs = 5_000;
    const r = await sigtermUnderLoad(context, { shutdownTimeoutMs, holdAfterSignalMs: 400 });
    return {
      tried: `32 connections of load plus 8 requests held open mid-body; SIGTERM; the held requests finish sending 400 ms later (SHUTDOWN_TIMEOUT_MS=${shutdownTimeoutMs})`,
      counts: sum(sum(r.before, r.after), r.held),
      checks: [
        allAnswered(r.before, 'started before SIGTERM'),
        allAnswered(r.held, 'held open across SIGTERM'),
        ...afterSignalChecks(r.after),
        check('exits 0, every connection closed, within SHUTDOWN_TIMEOUT_MS', !r.ending.hung && r.ending.exit.code === 0 && r.exitMs < shutdownTimeoutMs, exitText(r.ending, r.exitMs)),
        check('new connections are refused once it has stopped', r.after.refused > 0, `${r.after.refused} refused`),
      ],
      figures: { 'exit after SIGTERM, ms': r.exitMs, 'answered after SIGTERM': r.after.answered },
    };
  },
};

/** SIGTERM with requests that never finish: they are cut at the deadline, and nothing is decided for them. */
export const sigtermDeadline: Scenario = {
  name: 'sigterm-deadline',
  title: 'SIGTERM with requests that never finish: exit at the bound',
  async run(context): Promise<ScenarioOutcome> {
    const shutdownTimeoutMs = 1_000;
    const r = await sigtermUnderLoad(context, { shutdownTimeoutMs, holdAfterSignalMs: 3_000 });
    const slackMs = 500;
    return {
      tried: `as sigterm-drain, but the 8 held requests never finish before SHUTDOWN_TIMEOUT_MS=${shutdownTimeoutMs}`,
      counts: sum(sum(r.before, r.after), r.held),
      checks: [
        allAnswered(r.before, 'started before SIGTERM'),
        ...afterSignalChecks(r.after),
        check('the held requests are cut, not decided', r.held.answered === 0 && r.held.reset === r.held.sent, `${r.held.reset} of ${r.held.sent} closed without an answer`),
        check(
          `exits 1 at the bound (within ${slackMs} ms after it)`,
          !r.ending.hung && r.ending.exit.code === 1 && r.exitMs >= shutdownTimeoutMs && r.exitMs < shutdownTimeoutMs + slackMs,
          exitText(r.ending, r.exitMs),
        ),
        check('says so in its log', r.output.includes('connections still open at the deadline were cut'), 'warn line present'),
      ],
      figures: { 'exit after SIGTERM, ms': r.exitMs },
    };
  },
};
