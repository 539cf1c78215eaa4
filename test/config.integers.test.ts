import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { configProblems } from './helpers/config.js';

const problems = configProblems;

// Every integer variable, with a value in its range.
const integers: Readonly<Record<string, number>> = {
  PORT: 8080,
  MAX_BODY_BYTES: 4096,
  JWT_CLOCK_TOLERANCE_SECONDS: 16,
  TOKEN_MAX_LENGTH: 4096,
  TOKEN_CACHE_ENTRIES: 1000,
  TOKEN_CACHE_MAX_SECONDS: 16,
  JWKS_TIMEOUT_MS: 1000,
  JWKS_COOLDOWN_SECONDS: 16,
  JWKS_REFRESH_SECONDS: 16,
  INTROSPECTION_TIMEOUT_MS: 1000,
  INTROSPECTION_CACHE_MAX_SECONDS: 16,
  CACHE_MEMORY_ENTRIES: 1000,
  CACHE_TTL_SECONDS: 16,
  REDIS_COMMAND_TIMEOUT_MS: 16,
  REDIS_BACKOFF_MS: 1000,
  WORKERS: 16,
  REQUEST_TIMEOUT_MS: 1000,
  SHUTDOWN_TIMEOUT_MS: 1000,
  MAX_HEADER_BYTES: 4096,
  KEEP_ALIVE_TIMEOUT_MS: 4096,
  AUDIT_MAX_REQUEST_BYTES: 65_536,
};

describe('integer variables', () => {
  it('take decimal digits, around which blanks are ignored', () => {
    for (const [name, value] of Object.entries(integers)) {
      expect(loadConfig({ [name]: ` ${String(value)} ` })[name as keyof ReturnType<typeof loadConfig>], name).toBe(value);
    }
  });

  it('refuse hexadecimal, exponent, fraction and sign notations of the same numbers, naming the variable', () => {
    const message = (name: string) => (name === 'WORKERS' ? 'WORKERS: a number of processes from 1 to 256, or "auto"' : expect.stringMatching(new RegExp(`^${name}: a whole number in decimal digits from \\d+ to \\d+$`)));
    for (const [name, value] of Object.entries(integers)) {
      for (const text of [`0x${value.toString(16)}`, `${String(value)}e0`, `${String(value / 1000)}e3`, `${String(value)}.0`, `+${String(value)}`]) {
        expect(problems({ [name]: text }), `${name}=${text}`).toEqual([message(name)]);
      }
    }
  });

  it('refuse a number above the range however many digits it has, naming the bound as for one just above it', () => {
    for (const name of Object.keys(integers)) {
      const justAbove = problems({ [name]: '9'.repeat(11) });
      expect(justAbove, name).toEqual([expect.stringMatching(new RegExp(`^${name}: Too big: expected number to be <=\\d+$`))]);
      // 23 digits pass what a double holds exactly, 400 what it holds at all (Infinity).
      for (const digits of [23, 400]) expect(problems({ [name]: '9'.repeat(digits) }), `${name}: ${String(digits)} digits`).toEqual(justAbove);
    }
  });

  it('refuse PORT=0x1F90 and PORT=1e3, which read as 8080 and 1000 before', () => {
    expect(problems({ PORT: '0x1F90' })).toEqual(['PORT: a whole number in decimal digits from 0 to 65535']);
    expect(problems({ PORT: '1e3' })).toEqual(['PORT: a whole number in decimal digits from 0 to 65535']);
  });
});

const readme = readFileSync(resolve(import.meta.dirname, '../README.md'), 'utf8');

/** The row of README.md's settings tables for `name`: its first cell is the variable (`PORT` / `HOST` for two). */
function readmeRow(name: string): string | undefined {
  return readme.split('\n').find((line) => line.startsWith('| `') && (line.split(' | ')[0] ?? '').slice(2).split(' / ').includes(`\`${name}\``));
}

describe("README's settings tables", () => {
  it('list every integer variable', () => {
    const numbers = Object.entries(loadConfig({})).flatMap(([name, value]) => (typeof value === 'number' ? [name] : []));
    expect(Object.keys(integers)).toEqual(expect.arrayContaining(numbers));
  });

  it('give each integer variable the range it is held to, from `min` to `max`', () => {
    for (const name of Object.keys(integers)) {
      const range = /from `(\d+)`(?: \([^)]*\))? to `(\d+)`/.exec(readmeRow(name) ?? '');
      expect(range, `${name}: no "from \`min\` to \`max\`" in its row`).not.toBeNull();
      const [min, max] = [Number(range?.[1]), Number(range?.[2])];
      expect(problems({ [name]: String(min) }), `${name}=${String(min)}`).toEqual([]);
      expect(problems({ [name]: String(max) }), `${name}=${String(max)}`).toEqual([]);
      if (min > 0) expect(problems({ [name]: String(min - 1) }), `${name}=${String(min - 1)}`).toEqual([expect.stringContaining(`${name}: Too small`)]);
      expect(problems({ [name]: String(max + 1) }), `${name}=${String(max + 1)}`).toEqual([expect.stringContaining(`${name}: Too big`)]);
      // A negative number, or one in another notation, is refused naming the range it must be in.
      expect(problems({ [name]: '-1' }), `${name}=-1`).toEqual([expect.stringContaining(`from ${String(min)} to ${String(max)}`)]);
    }
  });

  it('give CACHE_PREFIX the length it is held to', () => {
    const most = Number(/at most `(\d+)` characters/.exec(readmeRow('CACHE_PREFIX') ?? '')?.[1]);
    expect(problems({ CACHE_PREFIX: 'p'.repeat(most) })).toEqual([]);
    expect(problems({ CACHE_PREFIX: 'p'.repeat(most + 1) })).toEqual([expect.stringContaining('CACHE_PREFIX: Too big')]);
  });
});
