import { allAnswered } from './checks.js';
import type { LoadSummary, PhaseSummary } from './load-protocol.js';
import type { Check } from './scenario.js';

/** How long a scenario lets the service warm up under load before its first measured phase, ms. */
export const warmUpMs = 1_000;

/** Phase label of the warm-up, which is not compared with anything. */
export const warmingUp = `while warming up (${warmUpMs / 1000} s)`;

/** The phase opened by the mark `name` (or `start`); throws when the summary lacks it. */
export function phase(summary: LoadSummary, name: string): PhaseSummary {
  const found = summary.phases.find((p) => p.name === name);
  if (found === undefined) throw new Error(`load summary without the phase "${name}"`);
  return found;
}

/** Every request of every phase answered as expected; `labels` names the phases for the report. */
export function everyPhaseAnswered(summary: LoadSummary, labels: Readonly<Record<string, string>>): Check[] {
  return summary.phases.map((p) => allAnswered(p.counts, `started ${labels[p.name] ?? p.name}`));
}

/** `p50 / p99 ms` of each phase, as report figures. */
export function latencyFigures(summary: LoadSummary, labels: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(summary.phases.map((p) => [`p50 / p99 ms ${labels[p.name] ?? p.name}`, `${p.latency.p50.toFixed(1)} / ${p.latency.p99.toFixed(1)}`]));
}
