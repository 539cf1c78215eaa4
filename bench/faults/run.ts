/**
 * `npm run faults [-- --quick] [scenario …]`: runs the fault scenarios against the real
 * service (`dist/main.js`) with load from a second process, records the results in
 * bench/results/faults.json and renders RELIABILITY.md from them. `--quick` runs short
 * versions and records nothing (a smoke check). Exits 1 if any check failed, 2 on an option or
 * scenario it does not know.
 */
import { mkdir } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { faultsFile, readJson, resultsDir, thisMachine, writeJson, type FaultResults, type ScenarioResult } from './lib/results.js';
import { runScenario } from './lib/scenario.js';
import { writeReliabilityReport } from './report.js';
import { scenarios } from './scenarios/index.js';

function parseArguments(): { quick: boolean; wanted: string[] } {
  try {
    const { values, positionals } = parseArgs({ options: { quick: { type: 'boolean', default: false } }, allowPositionals: true });
    return { quick: values.quick, wanted: positionals };
  } catch (error) {
    // A mistyped --quick must not run every scenario at length and record them.
    process.stderr.write(`${(error as Error).message}\n`);
    return process.exit(2);
  }
}

const { quick, wanted } = parseArguments();
const unknown = wanted.filter((name) => !scenarios.some((s) => s.name === name));
if (unknown.length > 0) {
  process.stderr.write(`unknown scenario(s): ${unknown.join(', ')}; known: ${scenarios.map((s) => s.name).join(', ')}\n`);
  process.exit(2);
}

const results: ScenarioResult[] = [];
for (const scenario of scenarios.filter((s) => wanted.length === 0 || wanted.includes(s.name))) {
  process.stderr.write(`▶ ${scenario.name}: ${scenario.title}\n`);
  const started = performance.now();
  const outcome = await runScenario(scenario, quick);
  const passed = outcome.checks.every((c) => c.passed);
  results.push({ name: scenario.name, title: scenario.title, ...outcome, passed, ranAt: new Date().toISOString(), durationMs: Math.round(performance.now() - started) });
  for (const c of outcome.checks) process.stderr.write(`  ${c.passed ? '✓' : '✗'} ${c.name}: ${c.detail}\n`);
  for (const [name, value] of Object.entries(outcome.figures ?? {})) process.stderr.write(`  · ${name}: ${value}\n`);
}

const failed = results.filter((r) => !r.passed);
process.stderr.write(`${results.length - failed.length} scenario(s) passed, ${failed.length} failed\n`);
if (!quick) {
  await mkdir(resultsDir, { recursive: true });
  const previous = (await readJson<FaultResults>(faultsFile))?.scenarios ?? [];
  const merged = scenarios.flatMap((s) => results.find((r) => r.name === s.name) ?? previous.find((r) => r.name === s.name) ?? []);
  await writeJson(faultsFile, { machine: thisMachine(), scenarios: merged } satisfies FaultResults);
  await writeReliabilityReport();
}
process.exit(failed.length === 0 ? 0 : 1);
