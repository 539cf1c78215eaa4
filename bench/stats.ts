/** Summary of a sample of durations, in the sample's unit. */
export interface Summary {
  readonly n: number;
  readonly median: number;
  readonly p99: number;
  readonly mean: number;
  readonly min: number;
}

/** The middle value, the mean of the two middle ones for an even count; NaN for none. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const upper = sorted[Math.floor(sorted.length / 2)];
  if (upper === undefined) return Number.NaN;
  return sorted.length % 2 === 1 ? upper : ((sorted[sorted.length / 2 - 1] as number) + upper) / 2;
}

/** Sorts the samples in place and summarises them. */
export function summarise(samples: Float64Array): Summary {
  samples.sort();
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? Number.NaN;
  let total = 0;
  for (const s of samples) total += s;
  return { n: samples.length, median: at(0.5), p99: at(0.99), mean: total / samples.length, min: samples[0] ?? Number.NaN };
}

/** Times `fn(i)` call by call; returns nanoseconds per call. */
export function timeCalls(iterations: number, fn: (i: number) => unknown): Float64Array {
  const out = new Float64Array(iterations);
  let sink = 0;
  for (let i = 0; i < iterations; i++) {
    const start = process.hrtime.bigint();
    const result = fn(i);
    out[i] = Number(process.hrtime.bigint() - start);
    if (result === undefined) sink++;
  }
  // Keeps the calls observable so the optimiser cannot drop them.
  if (sink === -1) process.stdout.write('');
  return out;
}

/** Rounds for reports: integers above 100, one decimal below. */
export function round(value: number): number {
  return Math.abs(value) >= 100 ? Math.round(value) : Math.round(value * 10) / 10;
}
