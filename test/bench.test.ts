import { describe, expect, it } from 'vitest';
import { readFigures } from '../bench/http/load.js';

const figures = (errors: Record<string, number>, requests = 1_000) =>
  `Running 1s test\nBENCH_JSON ${JSON.stringify({ requests, durationUs: 1_000_000, errors, latencyUs: { p50: 900, p90: 1500, p99: 3000, max: 9000, mean: 1000.5 } })}\n`;
const clean = { connect: 0, read: 0, write: 0, status: 0, timeout: 0 };

describe('bench load figures', () => {
  it('reads the figures of a run in which every request succeeded', () => {
    expect(readFigures('wrk', figures(clean))).toEqual({ requests: 1_000, durationUs: 1_000_000, latencyUs: { p50: 900, p90: 1500, p99: 3000, max: 9000, mean: 1000.5 } });
  });

  it('refuses a run with non-2xx answers or socket errors: its figures measure failures', () => {
    expect(() => readFigures('wrk', figures({ ...clean, status: 12 }))).toThrow(/12 requests failed \(status 12\)/);
    expect(() => readFigures('node-loadgen', figures({ ...clean, read: 2, timeout: 1 }))).toThrow(/3 requests failed \(read 2, timeout 1\)/);
  });

  it('refuses a run that completed no request, and output without figures', () => {
    expect(() => readFigures('wrk', figures(clean, 0))).toThrow(/no request/);
    expect(() => readFigures('wrk', 'unable to connect\n')).toThrow(/printed no figures/);
  });
});
