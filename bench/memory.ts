import { runLoad, type LoadTool } from './http/load.js';
import { rssMiB } from './http/processes.js';
import { startPdp } from './http/targets.js';
import { decideBody, workload } from './workload.js';

/** RSS of the service at idle, through a long load and after it. */
export interface MemoryResult {
  readonly scenario: string;
  readonly seconds: number;
  readonly idleMiB: number;
  readonly samples: readonly { readonly atSeconds: number; readonly rssMiB: number }[];
  /** Mean RSS over the first and the last quarter of the load. */
  readonly firstQuarterMiB: number;
  readonly lastQuarterMiB: number;
  /** Lowest sample in each half: RSS right after a collection, what the process really keeps. */
  readonly firstHalfLowMiB: number;
  readonly secondHalfLowMiB: number;
  readonly peakMiB: number;
  readonly afterMiB: number;
  readonly rps: number;
}

const mean = (values: readonly number[]) => Math.round((values.reduce((a, b) => a + b, 0) / Math.max(1, values.length)) * 10) / 10;

/** Loads `/decide` (pre-verified subjects, default configuration) for `seconds`, sampling RSS every 5 s. */
export async function runMemory(tool: LoadTool, seconds: number, connections: number, log: (line: string) => void): Promise<MemoryResult> {
  const pdp = await startPdp({});
  try {
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const idleMiB = await rssMiB(pdp.child.pid);
    log(`memory idle RSS ${idleMiB.toFixed(1)} MiB; loading for ${seconds} s`);
    const samples: { atSeconds: number; rssMiB: number }[] = [];
    const started = Date.now();
    const timer = setInterval(() => {
      rssMiB(pdp.child.pid).then(
        (rss) => samples.push({ atSeconds: Math.round((Date.now() - started) / 1000), rssMiB: Math.round(rss * 10) / 10 }),
        () => undefined,
      );
    }, 5_000);
    const load = await runLoad(tool, { url: pdp.url, path: '/decide', bodies: workload.map(decideBody), connections, seconds }).finally(() => clearInterval(timer));
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const afterMiB = await rssMiB(pdp.child.pid);
    const quarter = Math.max(1, Math.floor(samples.length / 4));
    const half = Math.max(1, Math.floor(samples.length / 2));
    const low = (list: typeof samples) => Math.min(...list.map((s) => s.rssMiB));
    const result: MemoryResult = {
      scenario: '/decide, pre-verified subjects, default configuration',
      seconds,
      idleMiB: Math.round(idleMiB * 10) / 10,
      samples,
      firstQuarterMiB: mean(samples.slice(0, quarter).map((s) => s.rssMiB)),
      lastQuarterMiB: mean(samples.slice(-quarter).map((s) => s.rssMiB)),
      firstHalfLowMiB: low(samples.slice(0, half)),
      secondHalfLowMiB: low(samples.slice(half)),
      peakMiB: Math.max(...samples.map((s) => s.rssMiB)),
      afterMiB: Math.round(afterMiB * 10) / 10,
      rps: load.rps,
    };
    log(`memory under load: lowest ${result.firstHalfLowMiB} MiB in the first half, ${result.secondHalfLowMiB} MiB in the second; quarters ${result.firstQuarterMiB} / ${result.lastQuarterMiB} MiB; peak ${result.peakMiB} MiB; after ${result.afterMiB} MiB`);
    return result;
  } finally {
    await pdp.child.stop();
  }
}
