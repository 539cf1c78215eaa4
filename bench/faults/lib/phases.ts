import { allAnswered } from './checks.js';
import { emptyCounts, type Latency, type LoadSummary, type PhaseSummary, type Tally } from './load-protocol.js';
import type { Check } from './scenario.js';

const none: Tally = { counts: emptyCounts(), latency: { p50: 0, p90: 0, p99: 0, max: 0 } };

/** The phase a mark of that name opened (`start`: the first), or an empty one if it never came. */
export function phaseNamed(summary: LoadSummary, name: string): PhaseSummary {
  return summary.phases.find((p) => p.name === name) ?? { name, from: 0, ...none, kinds: {} };
}

/** One kind of request within a phase (nothing sent: empty counts). */
export function kindIn(phase: PhaseSummary, kind: string): Tally {
  return phase.kinds[kind] ?? none;
}

const ms = (value: number) => (value >= 100 ? Math.round(value) : Math.round(value * 10) / 10);

/** `p50/p99/max` in ms, rounded for reading. */
function latencyText(latency: Latency): string {
  return `${ms(latency.p50)}/${ms(latency.p99)}/${ms(latency.max)}`;
}

/**
 * One latency figure per phase: all its requests, then each kind of request when there are
 * several. `labels` names phases for the report (the mark's own name otherwise).
 */
export function phaseLatencyFigures(summary: LoadSummary, labels: Readonly<Record<string, string>> = {}): Record<string, string> {
  return Object.fromEntries(
    summary.phases.map((phase) => {
      const kinds = Object.entries(phase.kinds).map(([kind, tally]) => `${kind} ${latencyText(tally.latency)}`);
      return [`p50/p99/max ms, ${labels[phase.name] ?? phase.name}`, `${latencyText(phase.latency)}${kinds.length > 1 ? ` (${kinds.join(', ')})` : ''}`];
    }),
  );
}

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
