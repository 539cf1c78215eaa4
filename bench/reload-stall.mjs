// How long loading a large policy set holds the event loop: the longest gap between the turns
// of a 1 ms timer while `loadPolicyDir` reads and compiles 10,000 rules over 100 resource types,
// each with a condition of its own text, and then while it reads one entity data file of nearly
// 16 MiB (the most a file may hold), indented as an editor writes it. A reload does this while
// the service answers requests.
// Run: npm run build && node bench/reload-stall.mjs
import { Buffer } from 'node:buffer';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { clearInterval, setInterval, setTimeout } from 'node:timers';
import { loadPolicyDir } from '../dist/policy/load.js';

const types = 100;
const rulesPerType = 100;
const actions = ['read', 'list', 'create', 'update', 'delete', 'approve', 'export', 'share', 'archive', 'restore'];

const dir = mkdtempSync(join(os.tmpdir(), 'pdp-reload-stall-'));
for (let t = 0; t < types; t++) {
  const rules = Array.from({ length: rulesPerType }, (_, r) => ({
    id: `r${r}`,
    effect: r % 10 === 9 ? 'deny' : 'permit',
    actions: [actions[(r * 7 + t) % actions.length]],
    roles: [`role${(r * 3 + t) % 20}`],
    condition: `resource.properties.tier == "t${t}-${r}" && subject.properties.level >= ${r % 5}.0`,
  }));
  writeFileSync(join(dir, `type${t}.json`), JSON.stringify({ id: `type${t}`, resource: `type${t}`, rules }));
}

const dataDir = mkdtempSync(join(os.tmpdir(), 'pdp-reload-stall-data-'));
writeFileSync(join(dataDir, 'invoices.json'), JSON.stringify({ id: 'invoices', resource: 'invoice', rules: [{ id: 'read', effect: 'permit', actions: ['read'], roles: ['viewer'] }] }));
const maxFileBytes = 16 * 1024 * 1024;
const users = [];
let dataText = '';
for (let step = 1; ; step++) {
  for (let i = users.length; i < step * 5_000; i++) {
    users.push({ type: 'user', id: `u-${i}`, aliases: [`user${i}@example.com`], properties: { roles: ['accountant', 'viewer'], department: 'finance', region: i % 2 ? 'EU' : 'US', manager: `u-${i >> 3}`, limit: 5000 + i, name: `User Number ${i}` } });
  }
  const text = JSON.stringify({ entities: users }, null, 2);
  if (Buffer.byteLength(text) > maxFileBytes) break;
  dataText = text;
}
const dataUsers = JSON.parse(dataText).entities.length;
mkdirSync(join(dataDir, 'data'));
writeFileSync(join(dataDir, 'data', 'users.json'), dataText);

/** Milliseconds the load of `from` took, and the longest the 1 ms timer waited beyond its interval. */
async function measure(from) {
  let longest = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last - 1);
    last = now;
  }, 1);
  await new Promise((resolve) => setTimeout(resolve, 20));
  longest = 0;
  last = performance.now();
  const started = performance.now();
  await loadPolicyDir(from);
  const took = performance.now() - started;
  await new Promise((resolve) => setTimeout(resolve, 20));
  clearInterval(timer);
  return { took, longest };
}

try {
  console.log(`reload-stall: ${os.cpus().length} cores, Node ${process.version}`);
  // The first load also compiles the loader's own code; the later ones are what a reload costs.
  for (const [label, from] of [[`${types * rulesPerType} rules`, dir], [`${Buffer.byteLength(dataText)} bytes of entity data (${dataUsers} users)`, dataDir]]) {
    console.log(label);
    for (let run = 1; run <= 5; run++) {
      const { took, longest } = await measure(from);
      console.log(`load ${run}: ${took.toFixed(0)} ms, longest event-loop stall ${longest.toFixed(0)} ms`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
}
