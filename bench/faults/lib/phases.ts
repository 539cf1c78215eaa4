import { emptyCounts, type Latency, type LoadSummary, type PhaseSummary, type Tally } from './load-protocol.js';

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
export function latencyText(latency: Latency): string {
  return `${ms(latency.p50)}/${ms(latency.p99)}/${ms(latency.max)}`;
}

/** One latency figure per phase: all its requests, then each kind of request when there are several. */
export function phaseLatencyFigures(summary: LoadSummary): Record<string, string> {
  return Object.fromEntries(
    summary.phases.map((phase) => {
      const kinds = Object.entries(phase.kinds).map(([kind, tally]) => `${kind} ${latencyText(tally.latency)}`);
      return [`p50/p99/max ms, ${phase.name}`, `${latencyText(phase.latency)}${kinds.length > 1 ? ` (${kinds.join(', ')})` : ''}`];
    }),
  );
}
