import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnServer, type ServerProcess } from '../../../test/helpers/spawn-server.js';
import type { Counts } from './load-protocol.js';
import { startLoad, type LoadRun } from './load-client.js';
import type { LoadConfig } from './load-protocol.js';

/** One expectation of a scenario, checked against what happened. */
export interface Check {
  readonly name: string;
  readonly passed: boolean;
  /** What was measured, in a few words. */
  readonly detail: string;
}

/** What a scenario reports: what it tried, the figures, and its checks. */
export interface ScenarioOutcome {
  /** One sentence: the fault and the load it ran under. */
  readonly tried: string;
  /** Requests (or attempts), when the scenario sends any. */
  readonly counts?: Counts;
  readonly checks: readonly Check[];
  /** Other figures worth keeping (exit time, latencies). */
  readonly figures?: Readonly<Record<string, number | string>>;
}

/** What a scenario may use; everything it starts is stopped when it ends. */
export interface ScenarioContext {
  /** Short runs (for a smoke check), rather than the recorded ones. */
  readonly quick: boolean;
  spawnServer(env?: Readonly<Record<string, string>>): ServerProcess;
  startLoad(config: LoadConfig): LoadRun;
  /** A fresh temporary directory, removed when the scenario ends. */
  tempDir(): Promise<string>;
}

/** A fault to inject under load, with the checks that say whether the service coped. */
export interface Scenario {
  readonly name: string;
  readonly title: string;
  run(context: ScenarioContext): Promise<ScenarioOutcome>;
}

/** A check from a condition and the figures behind it. */
export function check(name: string, passed: boolean, detail: string): Check {
  return { name, passed, detail };
}

/** Runs one scenario with a context that cleans up after it, whatever happens; an error it throws is a failed check. */
export async function runScenario(scenario: Scenario, quick: boolean): Promise<ScenarioOutcome> {
  const servers: ServerProcess[] = [];
  const loads: LoadRun[] = [];
  const dirs: string[] = [];
  const context: ScenarioContext = {
    quick,
    spawnServer(env) {
      const server = spawnServer(env);
      servers.push(server);
      return server;
    },
    startLoad(config) {
      const load = startLoad(config);
      loads.push(load);
      return load;
    },
    async tempDir() {
      const dir = await mkdtemp(join(tmpdir(), 'pdp-faults-'));
      dirs.push(dir);
      return dir;
    },
  };
  try {
    return await scenario.run(context);
  } catch (error) {
    // A scenario cut short fails, and the run goes on to record the others.
    return { tried: `${scenario.title} (stopped by an error)`, checks: [check('the scenario ran to its end', false, String(error))] };
  } finally {
    for (const load of loads) load.stop();
    for (const server of servers) if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  }
}
