import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../src/cache/breaker.js';

describe('circuit breaker', () => {
  it('keeps doubling the pause while failures come soon after each recovery, and starts again from the first pause once it has stayed closed for the longest', () => {
    let now = 0;
    const breaker = new CircuitBreaker({ backoffMs: 100, maxBackoffMs: 800, now: () => now });
    /** Waits out the pause, lets the probe out, and has it succeed. */
    const recover = () => {
      const pause = breaker.msUntilProbe() ?? Number.NaN;
      now += pause - 1;
      expect(breaker.startProbe()).toBe(false);
      now += 1;
      expect(breaker.startProbe()).toBe(true);
      expect(breaker.startProbe()).toBe(false);
      expect(breaker.success()).toBe(true);
      return pause;
    };

    expect(breaker.failure()).toBe(true);
    const pauses: number[] = [];
    for (let i = 0; i < 5; i++) {
      pauses.push(recover());
      // The probe passed, but the next call fails: Redis refusing lookups, a Cluster shard down.
      now += 5;
      expect(breaker.failure()).toBe(true);
    }
    expect(pauses).toEqual([100, 200, 400, 800, 800]);

    recover();
    now += 799;
    breaker.failure();
    expect(breaker.msUntilProbe()).toBe(800);
    recover();
    now += 800;
    breaker.failure();
    expect(breaker.msUntilProbe()).toBe(100);
  });

  it('lets the probe out at once when told to, while open only, and keeps the pause it was at', () => {
    let now = 0;
    const breaker = new CircuitBreaker({ backoffMs: 100, maxBackoffMs: 800, now: () => now });
    breaker.probeNow();
    expect(breaker.closed).toBe(true);

    breaker.failure();
    now += 10;
    expect(breaker.startProbe()).toBe(false);
    breaker.probeNow();
    expect(breaker.msUntilProbe()).toBe(0);
    expect(breaker.startProbe()).toBe(true);
    breaker.probeNow();
    expect(breaker.startProbe()).toBe(false);
    // The probe failed: the pause doubles as after any failed probe.
    breaker.failure();
    expect(breaker.msUntilProbe()).toBe(200);
  });
});

describe('circuit breaker calls that end while it is open', () => {
  it('close it only when the probe ends, and, failing, neither reopen it nor stretch the pause', () => {
    let now = 0;
    const breaker = new CircuitBreaker({ backoffMs: 100, maxBackoffMs: 800, now: () => now });
    expect(breaker.failure()).toBe(true);
    // A slow call begun before the failure answers now: it proves nothing.
    expect(breaker.success()).toBe(false);
    expect(breaker.closed).toBe(false);
    now += 50;
    expect(breaker.failure()).toBe(false);
    expect(breaker.msUntilProbe()).toBe(50);
    now += 50;
    expect(breaker.startProbe()).toBe(true);
    expect(breaker.success()).toBe(true);
    expect(breaker.closed).toBe(true);
  });
});
