import { readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import type { ScenarioOutcome } from './scenario.js';

/** Where the harness keeps what it measured; RELIABILITY.md is rendered from these files. */
export const resultsDir = resolve(import.meta.dirname, '../../results');
export const faultsFile = resolve(resultsDir, 'faults.json');
export const soakFile = resolve(resultsDir, 'soak.json');

export interface Machine {
  readonly cpus: number;
  readonly cpu: string;
  readonly node: string;
  /** The 1-minute load average when the results were written: other work on the machine skews latencies. */
  readonly loadAverage: number;
}

export function thisMachine(): Machine {
  const list = cpus();
  return { cpus: list.length, cpu: list[0]?.model ?? 'unknown', node: process.version, loadAverage: Math.round((loadavg()[0] ?? 0) * 100) / 100 };
}

export interface ScenarioResult extends ScenarioOutcome {
  readonly name: string;
  readonly title: string;
  readonly passed: boolean;
  readonly ranAt: string;
  readonly durationMs: number;
}

export interface FaultResults {
  readonly machine: Machine;
  readonly scenarios: readonly ScenarioResult[];
}

export interface SoakSample {
  /** Seconds since the soak began. */
  readonly t: number;
  readonly rssMiB: number;
  readonly requests: number;
  readonly failed: number;
  readonly wrong: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export interface SoakResults {
  readonly machine: Machine;
  readonly ranAt: string;
  readonly durationS: number;
  readonly ratePerSecond: number;
  readonly pinned: string;
  readonly samples: readonly SoakSample[];
  readonly total: {
    readonly sent: number;
    readonly answered: number;
    readonly correct: number;
    readonly wrong: number;
    /** Without an answer, not counting oversized bodies refused by closing the connection. */
    readonly failed: number;
    readonly closedWhileSending: number;
  };
  /** Requests not answered as expected, by kind, then by what happened instead. */
  readonly misses: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

export async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
}
