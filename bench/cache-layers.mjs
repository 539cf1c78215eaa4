// The same POST /decide load against the real server with no cache, memory only, Redis
// only and memory + Redis, measured with wrk; then what each step of a cached decision
// costs on its own, in process. Prints Markdown tables.
//
//   npm run build && node bench/cache-layers.mjs
//
// Needs wrk and redis-server on PATH (apt-get install wrk redis-server). Settings:
// BENCH_SECONDS (10), BENCH_ROUNDS (3; each cell reports its median round),
// BENCH_CONNECTIONS (32), BENCH_THREADS (1).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const root = resolve(import.meta.dirname, '..');
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 32);
const threads = Number(process.env.BENCH_THREADS ?? 1);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);

const modes = [
  { name: 'no cache', env: { CACHE_MEMORY_ENTRIES: '0' }, redis: false },
  { name: 'memory only', env: { CACHE_MEMORY_ENTRIES: '10000' }, redis: false },
  { name: 'Redis only', env: { CACHE_MEMORY_ENTRIES: '0' }, redis: true },
  { name: 'memory + Redis', env: { CACHE_MEMORY_ENTRIES: '10000' }, redis: true },
];

// `repeat`: one request over and over (every lookup after the first hits).
// `unique`: a new subject id per request (every lookup misses; the cache is pure overhead).
// `repeat, +200 rules`: `repeat` with 200 more conditional rules to evaluate for the action,
// standing in for a policy set whose evaluation is no longer cheap.
const workloads = [
  { name: 'repeat', unique: false, heavy: false },
  { name: 'unique', unique: true, heavy: false },
  { name: 'repeat, +200 rules', unique: false, heavy: true },
];

const extraRules = 200;

/** A policy directory: the shipped policies plus `extraRules` permit rules that never apply. */
async function heavyPolicyDir(dir) {
  const heavy = join(dir, 'heavy-policies');
  await mkdir(heavy, { recursive: true });
  await copyFile(join(root, 'policies/invoices.json'), join(heavy, 'invoices.json'));
  const rules = Array.from({ length: extraRules }, (_, i) => ({
    id: `H${i}`,
    effect: 'permit',
    actions: ['approve'],
    roles: ['finance_manager'],
    condition: `subject.properties.department == "dept-${i}" || resource.properties.amount > ${1_000_000 + i}.0`,
  }));
  await writeFile(join(heavy, 'bench-heavy.json'), JSON.stringify({ id: 'bench-heavy', resource: 'invoice', rules }));
  return heavy;
}

const body = {
  subject: { id: 'bench-user', properties: { roles: ['finance_manager'], scope: 'invoice.read invoice.write', region: 'EU', department: 'finance', approval_limit: 10000 } },
  action: 'approve',
  resource: { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'EU', status: 'submitted', amount: 1200, owner: 'someone-else' } },
  context: { mfa: true },
};

function luaScript(workload) {
  const [before, after] = JSON.stringify(body).split('"bench-user"');
  const quote = (s) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  return `
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = ${quote(JSON.stringify(body))}
local before, after = ${quote(before)}, ${quote(after)}
local threads = {}
local counter = 0
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  run = args[1]
  memory, redis, evaluated, failed = 0, 0, 0, 0
end
${workload.unique ? `function request()
  counter = counter + 1
  return wrk.format(nil, nil, nil, before .. '"u-' .. run .. '-' .. id .. '-' .. counter .. '"' .. after)
end` : ''}
function response(status, headers, body)
  if status ~= 200 then failed = failed + 1
  elseif body:find('"cached":"memory"', 1, true) then memory = memory + 1
  elseif body:find('"cached":"redis"', 1, true) then redis = redis + 1
  else evaluated = evaluated + 1 end
end
function done(summary, latency, requests)
  local m, r, e, f = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    m = m + t:get("memory"); r = r + t:get("redis"); e = e + t:get("evaluated"); f = f + t:get("failed")
  end
  io.write(string.format("SOURCES memory=%d redis=%d evaluated=%d failed=%d\\n", m, r, e, f))
  io.write(string.format("P99US %d\\n", latency:percentile(99)))
  io.write(string.format("P50US %d\\n", latency:percentile(50)))
end
`;
}

function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

async function waitFor(what, probe, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await probe()) return;
    } catch {
      // not there yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** GETs JSON on a fresh connection (a kept-alive one may be closed by the server under our feet). */
function getJson(url) {
  return new Promise((ok, fail) => {
    get(url, { agent: false }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => (res.statusCode === 200 ? ok(JSON.parse(text)) : fail(new Error(`${url}: ${res.statusCode}`))));
    }).on('error', fail);
  });
}

function start(command, args, env) {
  const child = spawn(command, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  child.on('error', (error) => {
    stderr += String(error);
  });
  return { child, stderr: () => stderr };
}

async function stop({ child }) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((ok) => child.once('exit', ok));
  child.kill('SIGTERM');
  await exited;
}

async function startRedis(dir) {
  const port = await freePort();
  const redis = start('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'], {});
  const url = `redis://127.0.0.1:${port}`;
  await waitFor('redis-server', () => spawnSync('redis-cli', ['-p', String(port), 'ping']).stdout.toString().trim() === 'PONG');
  return { ...redis, url };
}

async function startServer(env) {
  const port = await freePort();
  const server = start(process.execPath, ['dist/main.js'], { ...env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' });
  const base = `http://127.0.0.1:${port}`;
  await waitFor('the server', () => getJson(`${base}/readyz`));
  return { ...server, base };
}

let runs = 0;

function runWrk(base, scriptFile, duration) {
  runs++;
  const args = [`-t${threads}`, `-c${connections}`, `-d${duration}s`, '-s', scriptFile, `${base}/decide`, '--', `${process.pid}-${runs}`];
  const result = spawnSync('wrk', args, { encoding: 'utf8' });
  if (result.error !== undefined) throw new Error(`wrk failed to start (apt-get install wrk): ${result.error.message}`);
  const out = result.stdout;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const p99 = Number(/P99US (\d+)/.exec(out)?.[1]);
  const p50 = Number(/P50US (\d+)/.exec(out)?.[1]);
  const sources = /SOURCES (.*)/.exec(out)?.[1] ?? '';
  if (!Number.isFinite(rps)) throw new Error(`could not read wrk output:\n${out}\n${result.stderr}`);
  return { rps, p50, p99, sources };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function httpRows(dir) {
  const results = new Map();
  const heavyDir = await heavyPolicyDir(dir);
  for (let round = 1; round <= rounds; round++) {
    for (const [index, workload] of workloads.entries()) {
      const scriptFile = join(dir, `workload-${index}.lua`);
      await writeFile(scriptFile, luaScript(workload));
      for (const mode of modes) {
        const redis = mode.redis ? await startRedis(dir) : undefined;
        const policyDir = workload.heavy ? heavyDir : join(root, 'policies');
        const server = await startServer({ ...mode.env, POLICY_DIR: policyDir, ...(redis && { REDIS_URL: redis.url }) });
        try {
          if (redis) await waitFor('Redis up', async () => (await getJson(`${server.base}/readyz`)).redis === 'up');
          runWrk(server.base, scriptFile, 2);
          const result = runWrk(server.base, scriptFile, seconds);
          const redisAfter = (await getJson(`${server.base}/readyz`)).redis;
          const key = `${workload.name}|${mode.name}`;
          results.set(key, [...(results.get(key) ?? []), { ...result, redisAfter }]);
          process.stderr.write(`round ${round} ${workload.name} / ${mode.name}: ${result.rps.toFixed(0)} req/s, p99 ${(result.p99 / 1000).toFixed(2)} ms (${result.sources}; redis ${redisAfter})\n`);
        } catch (error) {
          process.stderr.write(`${server.stderr()}\n`);
          throw error;
        } finally {
          await stop(server);
          if (redis) await stop(redis);
        }
      }
    }
  }
  return [...results].map(([key, runs]) => {
    const [workload, mode] = key.split('|');
    const byRps = [...runs].sort((a, b) => a.rps - b.rps);
    const typical = byRps[Math.floor(byRps.length / 2)];
    return { workload, mode, rps: typical.rps, p50: median(runs.map((r) => r.p50)), p99: median(runs.map((r) => r.p99)), sources: typical.sources, redisAfter: runs.map((r) => r.redisAfter).join(', ') };
  });
}

/** Median cost of one call of `fn` in µs, over `batches` batches of `n` sequential calls. */
async function perCall(n, fn, batches = 5) {
  const costs = [];
  for (let b = 0; b < batches; b++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await fn(i);
    costs.push(Number(process.hrtime.bigint() - started) / 1000 / n);
  }
  return median(costs);
}

async function hit(lookup) {
  if ((await lookup) === undefined) throw new Error('expected a Redis hit: is Redis up?');
}

async function componentRows(dir) {
  const dist = (path) => import(join(root, 'dist', path));
  const { loadPolicyDir } = await dist('policy/load.js');
  const { evaluate } = await dist('policy/evaluate.js');
  const { claimsToSubject } = await dist('token/claims.js');
  const { decisionKey } = await dist('cache/key.js');
  const { DecisionCache } = await dist('cache/decision-cache.js');
  const { MemoryCacheLayer } = await dist('cache/memory.js');
  const { RedisCacheLayer } = await dist('cache/redis.js');

  const set = await loadPolicyDir(join(root, 'policies'));
  const heavySet = await loadPolicyDir(await heavyPolicyDir(dir));
  const query = {
    subject: claimsToSubject(body.subject.properties, 'user', body.subject.id),
    action: { name: body.action, properties: {} },
    resource: { type: body.resource.type, id: body.resource.id, properties: body.resource.properties },
    context: body.context,
  };
  const now = new Date();
  const verdict = evaluate(set, query, now);
  const memory = new DecisionCache({ layers: [new MemoryCacheLayer({ maxEntries: 1000 })], prefix: 'bench:', ttlSeconds: 3600 });
  await memory.resolve(set.version, query, now.getTime(), () => verdict);

  const redisServer = await startRedis(dir);
  const redis = new RedisCacheLayer({ target: { mode: 'standalone', url: redisServer.url }, commandTimeoutMs: 1000, backoffMs: 1000 });
  try {
    await waitFor('Redis up', () => redis.state() === 'up');
    const key = decisionKey('bench:', set.version, query);
    redis.set(key, { verdict, expiresAt: Date.now() + 3_600_000 }, 3_600_000);
    await waitFor('the entry in Redis', async () => (await redis.get(key, Date.now())) !== undefined);
    const batch = Array.from({ length: 64 });
    return [
      ['evaluate (policy engine, no cache)', await perCall(50_000, () => evaluate(set, query, now))],
      [`evaluate, +${extraRules} rules`, await perCall(2_000, () => evaluate(heavySet, query, now))],
      ['cache key (canonical JSON + SHA-256)', await perCall(50_000, () => decisionKey('bench:', set.version, query))],
      ['memory hit (key + LRU + single-flight bookkeeping)', await perCall(50_000, () => memory.resolve(set.version, query, now.getTime(), () => verdict))],
      ['Redis hit, one at a time (round trip + validation)', await perCall(5_000, () => hit(redis.get(key, Date.now())))],
      ['Redis hit, 64 concurrent (per lookup)', (await perCall(200, () => Promise.all(batch.map(() => hit(redis.get(key, Date.now())))))) / 64],
    ];
  } finally {
    await redis.close();
    await stop(redisServer);
  }
}

async function main() {
  if (!existsSync(join(root, 'dist/main.js'))) throw new Error('run `npm run build` first');
  const dir = await mkdtemp(join(tmpdir(), 'pdp-cache-bench-'));
  try {
    const components = await componentRows(dir);
    const rows = await httpRows(dir);
    console.log(`wrk -t${threads} -c${connections} -d${seconds}s, POST /decide, median of ${rounds} round(s)\n`);
    console.log('| workload | cache | req/s | p50 ms | p99 ms | answered from (median round) | Redis after each round |');
    console.log('|---|---|---:|---:|---:|---|---|');
    for (const r of rows) {
      console.log(`| ${r.workload} | ${r.mode} | ${r.rps.toFixed(0)} | ${(r.p50 / 1000).toFixed(2)} | ${(r.p99 / 1000).toFixed(2)} | ${r.sources} | ${r.redisAfter} |`);
    }
    console.log('\n| step, in process | µs per call |');
    console.log('|---|---:|');
    for (const [step, us] of components) console.log(`| ${step} | ${us.toFixed(2)} |`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
