/**
 * Renders the results sections of RELIABILITY.md from bench/results/*.json
 * (`npm run reliability:report`; `npm run faults` and `npm run soak` call it too).
 * Only the text between the `<!-- …:begin -->` and `<!-- …:end -->` markers is replaced.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { faultsFile, readJson, soakFile, type FaultResults, type ScenarioResult, type SoakResults, type SoakSample } from './lib/results.js';

const reportFile = resolve(import.meta.dirname, '../../RELIABILITY.md');

function requests(result: ScenarioResult): string {
  const c = result.counts;
  if (c === undefined) return String(result.figures?.['refused to start'] ?? '—');
  const failed = c.sent - c.answered;
  const parts = [
    c.refused && `${c.refused} refused`,
    c.reset && `${c.reset} closed`,
    c.closedWhileSending && `${c.closedWhileSending} oversized bodies refused by closing`,
    c.timedOut && `${c.timedOut} timed out`,
    c.otherErrors && `${c.otherErrors} other`,
  ];
  const how = failed === 0 ? '' : ` (${parts.filter(Boolean).join(', ')})`;
  return `${c.sent} sent, ${c.answered} answered${how}`;
}

function faultsSection(results: FaultResults | undefined): string {
  if (results === undefined) return '_No results yet: run `npm run faults`._';
  const m = results.machine;
  const rows = results.scenarios.map((r) => {
    const wrong = r.counts === undefined ? '—' : String(r.counts.wrongPermit + r.counts.wrongDeny);
    const errors = r.counts === undefined ? '—' : String(r.counts.status5xx);
    const passed = r.checks.filter((c) => c.passed).length;
    return `| \`${r.name}\` | ${r.tried} | ${requests(r)} | ${wrong} | ${errors} | ${r.passed ? 'pass' : '**FAIL**'} (${passed}/${r.checks.length} checks) |`;
  });
  const details = results.scenarios.map((r) => {
    const figures = Object.entries(r.figures ?? {}).map(([k, v]) => `${k}: ${v}`).join('; ');
    const checks = r.checks.map((c) => `- ${c.passed ? '✓' : '✗'} ${c.name} — ${c.detail}`).join('\n');
    return `**\`${r.name}\`** — ${r.title} (${r.ranAt.slice(0, 16).replace('T', ' ')} UTC, ${(r.durationMs / 1000).toFixed(1)} s)${figures === '' ? '' : `. ${figures}.`}\n\n${checks}`;
  });
  return [
    `Measured on ${m.cpus} × ${m.cpu}, Node ${m.node}; the service and the load generator share the machine (1-minute load average ${m.loadAverage} when recorded).`,
    '',
    '| scenario | what was tried | requests | wrong decisions | 5xx | result |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    ...details.flatMap((d) => [d, '']),
  ].join('\n').trimEnd();
}

function minuteRows(samples: readonly SoakSample[]): string[] {
  const rows: string[] = [];
  let nextMinute = 0;
  for (const s of samples) {
    if (s.t + 0.001 < nextMinute && s !== samples.at(-1)) continue;
    rows.push(`| ${Math.round(s.t)} | ${s.rssMiB.toFixed(1)} | ${s.requests} | ${s.p50.toFixed(2)} | ${s.p99.toFixed(2)} | ${s.max.toFixed(2)} | ${s.failed} | ${s.wrong} |`);
    nextMinute = Math.floor(s.t / 60) * 60 + 60;
  }
  return rows;
}

function soakSection(soak: SoakResults | undefined): string {
  if (soak === undefined) return '_No soak run recorded yet: run `npm run soak`._';
  const s = soak.samples;
  const halves = [s.slice(0, Math.ceil(s.length / 2)), s.slice(Math.ceil(s.length / 2))];
  const median = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)] ?? 0;
  };
  const range = (xs: readonly SoakSample[]) => `${Math.min(...xs.map((x) => x.rssMiB)).toFixed(0)}–${Math.max(...xs.map((x) => x.rssMiB)).toFixed(0)}`;
  const byHalf = (pick: (x: SoakSample) => number) => halves.map((h) => median(h.map(pick)).toFixed(2)).join(' / ');
  const t = soak.total;
  return [
    `${soak.durationS / 60} minutes at ${soak.ratePerSecond} requests/s (${soak.pinned}), ${soak.ranAt.slice(0, 16).replace('T', ' ')} UTC, ${soak.machine.cpus} × ${soak.machine.cpu}, Node ${soak.machine.node}, 1-minute load average ${soak.machine.loadAverage} at the end.`,
    '',
    '| figure | value |',
    '|---|---|',
    `| requests sent / answered as expected | ${t.sent} / ${t.correct} |`,
    `| wrong decisions / requests without an answer | ${t.wrong} / ${t.failed} |`,
    `| oversized bodies refused by closing the connection mid-upload | ${t.closedWhileSending} |`,
    `| not answered as expected, by kind | ${Object.keys(soak.misses).length === 0 ? 'none' : JSON.stringify(soak.misses).replaceAll('|', '/')} |`,
    `| service RSS range, first half / second half, MiB | ${halves.map(range).join(' / ')} |`,
    `| p50 latency, median of the 10-s intervals, first half / second half, ms | ${byHalf((x) => x.p50)} |`,
    `| p99 latency, median of the 10-s intervals, first half / second half, ms | ${byHalf((x) => x.p99)} |`,
    '',
    'Once a minute (each row covers the sampling interval that ended then):',
    '',
    '| t (s) | RSS (MiB) | requests | p50 (ms) | p99 (ms) | max (ms) | failed | wrong |',
    '|---|---|---|---|---|---|---|---|',
    ...minuteRows(s),
  ].join('\n');
}

function replaceSection(text: string, name: string, body: string): string {
  const begin = `<!-- ${name}:begin -->`;
  const end = `<!-- ${name}:end -->`;
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`RELIABILITY.md lacks the ${begin} … ${end} markers`);
  return `${text.slice(0, from + begin.length)}\n${body}\n${text.slice(to)}`;
}

/** Re-renders the results sections of RELIABILITY.md from the recorded results. */
export async function writeReliabilityReport(): Promise<void> {
  let text = await readFile(reportFile, 'utf8');
  text = replaceSection(text, 'faults', faultsSection(await readJson<FaultResults>(faultsFile)));
  text = replaceSection(text, 'soak', soakSection(await readJson<SoakResults>(soakFile)));
  await writeFile(reportFile, text);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await writeReliabilityReport();
