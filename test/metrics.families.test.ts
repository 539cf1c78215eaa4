import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CounterFamily, HistogramFamily } from '../src/telemetry/families.js';
import { latencyBuckets } from '../src/telemetry/metrics.js';
import { sample } from './helpers/telemetry.js';

const observations = [0.00003, 0.00005, 0.00007, 0.0004, 0.0011, 0.3, 2.5, 7, 0];

/** The same events through prom-client's own Counter and Histogram, and through the families. */
function bothWays() {
  const reference = new Registry();
  const counter = new Counter({ name: 'x_total', help: 'Events.', labelNames: ['kind', 'route'] as const, registers: [reference] });
  const histogram = new Histogram({ name: 'x_seconds', help: 'Time.', labelNames: ['route'] as const, buckets: [...latencyBuckets], registers: [reference] });
  const ours = new Registry();
  const counts = new CounterFamily({ name: 'x_total', help: 'Events.', registry: ours });
  const times = new HistogramFamily({ name: 'x_seconds', help: 'Time.', buckets: latencyBuckets, registry: ours });

  counter.inc({ kind: 'a', route: '/decide' }, 0);
  const a = counts.labels({ kind: 'a', route: '/decide' });
  histogram.zero({ route: '/idle' });
  times.labels({ route: '/idle' });
  const decide = times.labels({ route: '/decide' });
  const b = counts.labels({ kind: 'b', route: '/x"y\\z' });
  for (const value of observations) {
    counter.inc({ kind: 'a', route: '/decide' });
    a.inc();
    histogram.observe({ route: '/decide' }, value);
    decide.observe(value);
  }
  counter.inc({ kind: 'b', route: '/x"y\\z' });
  b.inc();
  return { reference, ours };
}

describe('counter and histogram families', () => {
  it('export the same text as prom-client for the same events', async () => {
    const { reference, ours } = bothWays();
    const text = await ours.metrics();
    expect(text).toBe(await reference.metrics());
    expect(sample(text, 'x_seconds_bucket', { route: '/decide', le: '0.00005' })).toBe(3);
    expect(sample(text, 'x_seconds_count', { route: '/decide' })).toBe(observations.length);
  });

  it('sum over cluster workers as prom-client metrics do', async () => {
    const workers = [bothWays().ours, bothWays().ours];
    const summed = AggregatorRegistry.aggregate(await Promise.all(workers.map((w) => w.getMetricsAsJSON())));
    const text = await summed.metrics();
    expect(sample(text, 'x_total', { kind: 'a', route: '/decide' })).toBe(2 * observations.length);
    expect(sample(text, 'x_seconds_bucket', { route: '/decide', le: '+Inf' })).toBe(2 * observations.length);
    expect(sample(text, 'x_seconds_bucket', { route: '/idle', le: '0.001' })).toBe(0);
  });

  it('keep their series through a registry reset, at zero', async () => {
    const registry = new Registry();
    const counts = new CounterFamily({ name: 'y_total', help: 'Events.', registry });
    const series = counts.labels({ kind: 'a' });
    series.inc();
    registry.resetMetrics();
    series.inc();
    expect(sample(await registry.metrics(), 'y_total', { kind: 'a' })).toBe(1);
  });
});
