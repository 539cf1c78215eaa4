/**
 * `npm run faults [-- --quick] [scenario …]`: runs the fault scenarios against the real
 * service (`dist/main.js`) with load from a second process, records the results in
 * bench/results/faults.json and renders RELIABILITY.md from them. `--quick` runs short
 * versions and records nothing (a smoke check). Exits 1 if any check failed.
 */
import { mkdir } from 'node:fs/promises';
import { faultsFile, readJson, resultsDir, thisMachine, writeJson, type FaultResults, type ScenarioResult } from './lib/results.js';
import { runScenario } from './lib/scenario.js';
import { writeReliabilityReport } from './report.js';
import { scenarios } from './scenarios/index.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const wanted = args.filter((a) => !a.startsWith('--'));
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
