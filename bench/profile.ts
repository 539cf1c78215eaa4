import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runLoad, type LoadTool } from './http/load.js';
import { startPdp } from './http/targets.js';
import { decideBody, workload } from './workload.js';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly hitCount?: number;
  readonly children?: readonly number[];
}

/** Share of CPU samples, self time, by function and by where the code lives. */
export interface ProfileSummary {
  readonly samples: number;
  readonly byArea: readonly { readonly area: string; readonly percent: number }[];
  readonly topFunctions: readonly { readonly name: string; readonly percent: number }[];
}

function area(url: string, name: string): string {
  if (url === '') return name.startsWith('(') ? name : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1] ?? url;
  if (url.startsWith('node:')) return 'node core';
  const own = /\/(dist|src)\/(.+)$/.exec(url);
  return own ? `invoice-pdp ${own[2]}` : url;
}

/** Reads the newest `.cpuprofile` in `dir` and summarises where the samples fell (the 25 costliest functions). */
function summariseProfile(dir: string): ProfileSummary {
  const file = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort().at(-1);
  if (file === undefined) throw new Error(`no .cpuprofile in ${dir}`);
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { nodes: ProfileNode[] };
  const byArea = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = area(url, functionName);
    if (where === '(idle)') continue;
    total += hits;
    byArea.set(where, (byArea.get(where) ?? 0) + hits);
    const name = `${functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}:${lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + hits);
  }
  const percent = (n: number) => Math.round((n / total) * 1000) / 10;
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return {
    samples: total,
    byArea: sorted(byArea).map(([a, n]) => ({ area: a, percent: percent(n) })),
    topFunctions: sorted(byFunction).slice(0, 25).map(([name, n]) => ({ name, percent: percent(n) })),
  };
}

/** A CPU profile of the service answering `/decide` (pre-verified subjects) under load. */
export async function runProfile(tool: LoadTool, seconds: number, connections: number, workDir: string): Promise<{ rps: number; cpuUsPerRequest: number | undefined; summary: ProfileSummary }> {
  const dir = join(workDir, 'cpu-profile');
  mkdirSync(dir, { recursive: true });
  const pdp = await startPdp({}, { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
  const bodies = workload.map(decideBody);
  let load;
  try {
    await runLoad(tool, { url: pdp.url, path: '/decide', bodies, connections, seconds: 2 });
    load = await runLoad(tool, { url: pdp.url, path: '/decide', bodies, connections, seconds, serverPid: pdp.child.pid });
  } finally {
    // The profile is written when the process exits.
    await pdp.child.stop();
  }
  return { rps: load.rps, cpuUsPerRequest: load.serverCpuUsPerRequest, summary: summariseProfile(dir) };
}
