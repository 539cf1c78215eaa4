import { cerbosDecision, cerbosRequest, installCerbos, startCerbos } from '../peers/cerbos.js';
import { authzenEvaluation, decideBody, decideTokenBody, subjects, workload, type WorkloadCase } from '../workload.js';
import type { IntrospectionServer } from './introspection-server.js';
import { runLoad, type LoadResult, type LoadTool } from './load.js';
import { rssMiB } from './processes.js';
import type { BenchRedis } from './redis.js';
import { postJson, startBare, startPdp, type RunningPdp } from './targets.js';
import { audience, issuer, type BenchTokens } from './tokens.js';

/** One line of the HTTP table. */
export interface ScenarioResult {
  readonly id: string;
  readonly label: string;
  readonly status: 'measured' | 'skipped' | 'failed';
  readonly note?: string;
  /** Decisions each request asks for (10 for the AuthZEN batch). */
  readonly decisionsPerRequest: number;
  readonly load?: LoadResult;
  readonly ratioToBare?: number;
  readonly serverRssMiB?: number;
}

export interface HttpContext {
  readonly tokens: BenchTokens;
  readonly introspection: IntrospectionServer;
  readonly redis: BenchRedis | undefined;
  readonly workDir: string;
}

interface Ready {
  readonly url: string;
  readonly path: string;
  readonly bodies: readonly unknown[];
  readonly decisionsPerRequest: number;
  /** The one process serving, for its CPU time and RSS; undefined under node:cluster. */
  readonly pid: number | undefined;
  readonly note?: string;
  stop(): Promise<unknown>;
}

type Prepared = Ready | { readonly skip: string } | { readonly fail: string };

/** A benchmark scenario: what to start, what to send, and how to tell that it works. */
export interface Scenario {
  readonly id: string;
  readonly label: string;
  /** Part of `--quick`. */
  readonly quick: boolean;
  prepare(ctx: HttpContext): Promise<Prepared>;
}

type Check = (body: unknown, index: number) => string | undefined;

function field(body: unknown, name: string): unknown {
  return typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined;
}

/**
 * Sends every body once; any answer but a right 200 fails. The scenarios run this checkout's
 * build, which has every endpoint they load: a 404 is a broken build, not a missing feature.
 */
export async function probe(url: string, path: string, bodies: readonly unknown[], check: Check): Promise<{ fail: string } | undefined> {
  for (const [index, body] of bodies.entries()) {
    const res = await postJson(url + path, body);
    if (res.status !== 200) return { fail: `POST ${path} answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}` };
    const problem = check(res.body, index);
    if (problem !== undefined) return { fail: problem };
  }
  return undefined;
}

function decideCheck(cases: readonly WorkloadCase[]): Check {
  return (body, index) => {
    const c = cases[index % cases.length] as WorkloadCase;
    const decision = field(body, 'decision');
    return decision === c.expect ? undefined : `"${c.name}": decided ${String(decision)} ${JSON.stringify(field(body, 'reasons'))}, expected ${c.expect}`;
  };
}

/** Where a decision came from, as the cache marks it (`cached`: memory | redis); undefined when evaluated. */
function cacheSource(body: unknown): string | undefined {
  const marker = field(body, 'cached') ?? field(body, 'source');
  return typeof marker === 'string' && marker !== 'evaluated' ? marker : undefined;
}

/** `default` sets no cache variable and checks nothing: whatever the build does by default. */
type CacheMode = 'off' | 'memory' | 'redis' | 'default';

function cacheEnv(mode: CacheMode, redis: BenchRedis | undefined): Record<string, string> {
  if (mode === 'off') return { CACHE_MEMORY_ENTRIES: '0' };
  if (mode === 'memory') return { CACHE_MEMORY_ENTRIES: '10000' };
  if (mode === 'redis' && redis !== undefined) return { CACHE_MEMORY_ENTRIES: '10000', REDIS_URL: redis.url };
  return {};
}

/**
 * Checks that the cache mode asked for is the one the server runs, from its answers and Redis:
 * a cache that does not answer is a failure of this build, which has one; only a missing
 * redis-server skips.
 */
export async function verifyCache(mode: CacheMode, url: string, path: string, body: unknown, redis: BenchRedis | undefined): Promise<{ skip: string } | { fail: string } | undefined> {
  const again = await postJson(url + path, body);
  const source = cacheSource(again.body);
  if (mode === 'default') return undefined;
  if (mode === 'off') return source === undefined ? undefined : { fail: `CACHE_MEMORY_ENTRIES=0 still answered from the ${source} cache` };
  if (mode === 'memory') {
    return source === 'memory' ? undefined : { fail: 'with CACHE_MEMORY_ENTRIES=10000, a repeated request was evaluated again (no "cached": "memory" in the answer)' };
  }
  if (redis === undefined) return { skip: 'not available: redis-server is not installed' };
  const deadline = Date.now() + 2_000;
  while (Date.now() < deadline) {
    if ((await redis.keys()) > 0) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { fail: 'with REDIS_URL set, the server wrote nothing to Redis' };
}

function ready(pdp: RunningPdp, path: string, bodies: readonly unknown[], decisionsPerRequest = 1, note?: string, clustered = false): Ready {
  return { url: pdp.url, path, bodies, decisionsPerRequest, pid: clustered ? undefined : pdp.child.pid, note, stop: () => pdp.child.stop() };
}

/** Runs `steps` against a started server; stops the server unless they end in a Ready target. */
async function withServer(pdp: RunningPdp, steps: () => Promise<Prepared>): Promise<Prepared> {
  let outcome: Prepared | undefined;
  try {
    outcome = await steps();
    return outcome;
  } finally {
    if (outcome === undefined || !('url' in outcome)) await pdp.child.stop();
  }
}

function tokenEnv(ctx: HttpContext): Record<string, string> {
  return {
    JWKS_FILE: ctx.tokens.jwksFile,
    JWT_ISSUER: issuer,
    JWT_AUDIENCE: audience,
    INTROSPECTION_URL: ctx.introspection.url,
    INTROSPECTION_CLIENT_ID: ctx.introspection.clientId,
    INTROSPECTION_CLIENT_SECRET: ctx.introspection.clientSecret,
  };
}

type SubjectKind = 'subject' | 'jwt-es256' | 'jwt-rs256' | 'opaque';

function bodiesFor(kind: SubjectKind, ctx: HttpContext): unknown[] {
  if (kind === 'subject') return workload.map(decideBody);
  const tokens = kind === 'opaque' ? ctx.tokens.opaque : ctx.tokens.jwt[kind === 'jwt-es256' ? 'ES256' : 'RS256'];
  return workload.map((c) => decideTokenBody(c, tokens.get(c.subjectId) ?? ''));
}

/** The id of a scenario's `n`th run: `id` for the first, `id#n` for a repeat. */
const runId = (id: string, n: number) => (n === 1 ? id : `${id}#${n}`);
const runLabel = (label: string, n: number) => (n === 1 ? label : `${label} (run ${n})`);

interface DecideOptions {
  /** Part of `--quick`. */
  readonly quick?: boolean;
  readonly workers?: number;
  readonly run?: number;
  /** `none` sets AUDIT_DECISIONS=none: the same scenario without its audit line, to show what the line costs. */
  readonly audit?: 'default' | 'none';
}

function decideScenario(kind: SubjectKind, mode: CacheMode, { quick = false, workers = 1, run = 1, audit = 'default' }: DecideOptions = {}): Scenario {
  // The token caches are on, as by default: the workload's few tokens are verified or
  // introspected once each, and the rest of the run measures a cache hit, not the check.
  const tokens = `${subjects().length} tokens, each`;
  const verified = `(${tokens} verified once, then from the verified-token cache)`;
  const subjectLabel = { subject: 'pre-verified subject', 'jwt-es256': `JWT ES256 ${verified}`, 'jwt-rs256': `JWT RS256 ${verified}`, opaque: `opaque token (${tokens} introspected once, then from the introspection cache)` }[kind];
  const cacheLabel = { off: 'cache off', memory: 'memory cache', redis: 'memory + Redis', default: 'default cache settings' }[mode];
  const workersPart = workers > 1 ? `, WORKERS=${workers}` : '';
  const auditPart = audit === 'none' ? ', AUDIT_DECISIONS=none (no audit line)' : '';
  return {
    id: runId(`decide/${kind}/${mode}${workers > 1 ? `/workers-${workers}` : ''}${audit === 'none' ? '/no-audit' : ''}`, run),
    label: runLabel(`/decide, ${subjectLabel}, ${cacheLabel}${workersPart}${auditPart}`, run),
    quick,
    async prepare(ctx) {
      if (mode === 'redis' && ctx.redis === undefined) return { skip: 'not available: redis-server is not installed' };
      await ctx.redis?.flush();
      const pdp = await startPdp({
        ...(kind === 'subject' ? {} : tokenEnv(ctx)),
        ...cacheEnv(mode, ctx.redis),
        ...(audit === 'none' ? { AUDIT_DECISIONS: 'none' } : {}),
        WORKERS: String(workers),
      });
      return withServer(pdp, async () => {
        const bodies = bodiesFor(kind, ctx);
        if (kind === 'opaque') {
          const before = ctx.introspection.hits();
          await postJson(`${pdp.url}/decide`, bodies[0]);
          if (ctx.introspection.hits() === before) return { fail: 'the server never called INTROSPECTION_URL for an opaque token' };
        }
        const failed = (await probe(pdp.url, '/decide', bodies, decideCheck(workload))) ?? (await verifyCache(mode, pdp.url, '/decide', bodies[0], ctx.redis));
        return failed ?? ready(pdp, '/decide', bodies, 1, workers > 1 ? 'server CPU and RSS not shown: several processes' : undefined, workers > 1);
      });
    },
  };
}

function batches(size: number): unknown[] {
  return workload.map((_, start) => ({
    evaluations: Array.from({ length: size }, (_, k) => authzenEvaluation(workload[(start + k) % workload.length] as WorkloadCase)),
  }));
}

const authzenEvaluationScenario: Scenario = {
  id: 'authzen/evaluation',
  label: 'AuthZEN POST /access/v1/evaluation, default configuration',
  quick: true,
  async prepare() {
    const pdp = await startPdp({});
    return withServer(pdp, async () => {
      const path = '/access/v1/evaluation';
      const bodies = workload.map(authzenEvaluation);
      const check: Check = (body, index) => {
        const c = workload[index] as WorkloadCase;
        return field(body, 'decision') === (c.expect === 'permit') ? undefined : `"${c.name}": AuthZEN decision ${JSON.stringify(field(body, 'decision'))}, expected ${c.expect === 'permit'}`;
      };
      return (await probe(pdp.url, path, bodies, check)) ?? ready(pdp, path, bodies);
    });
  },
};

const authzenBatchScenario: Scenario = {
  id: 'authzen/evaluations-10',
  label: 'AuthZEN POST /access/v1/evaluations, 10 per batch, default configuration',
  quick: true,
  async prepare() {
    const pdp = await startPdp({});
    return withServer(pdp, async () => {
      const path = '/access/v1/evaluations';
      const bodies = batches(10);
      const check: Check = (body, index) => {
        const items = field(body, 'evaluations');
        if (!Array.isArray(items) || items.length !== 10) return `batch answered ${JSON.stringify(body).slice(0, 200)}`;
        for (const [k, item] of items.entries()) {
          const c = workload[(index + k) % workload.length] as WorkloadCase;
          if (field(item, 'decision') !== (c.expect === 'permit')) return `batch item "${c.name}": ${JSON.stringify(item)}, expected ${c.expect === 'permit'}`;
        }
        return undefined;
      };
      return (await probe(pdp.url, path, bodies, check)) ?? ready(pdp, path, bodies, 10);
    });
  },
};

function bareScenario(id: string, workers = 1, run = 1): Scenario {
  return {
    id,
    label: workers > 1
      ? `bare Hono route in ${workers} processes (node:cluster): the ceiling for WORKERS=${workers}`
      : runLabel('bare Hono route (parses the body, fixed verdict): the ceiling', run),
    quick: run === 1,
    async prepare() {
      const bare = await startBare(workers);
      return withServer(bare, async () => {
        const bodies = workload.map(decideBody);
        const failed = await probe(bare.url, '/decide', bodies, (body) => (field(body, 'decision') === 'permit' ? undefined : 'bare route gave no verdict'));
        return failed ?? ready(bare, '/decide', bodies, 1, workers > 1 ? 'server CPU and RSS not shown: several processes' : undefined, workers > 1);
      });
    },
  };
}

const cerbosScenario: Scenario = {
  id: 'peer/cerbos',
  label: 'Cerbos 0.55 (peer), POST /api/check/resources, same policy',
  quick: false,
  async prepare(ctx) {
    const installed = installCerbos();
    if (!installed.ok) return { skip: `Cerbos unavailable: ${installed.reason}` };
    const { child, url } = await startCerbos(ctx.workDir);
    const server: RunningPdp = { url, child };
    return withServer(server, async () => {
      const path = '/api/check/resources';
      const bodies = workload.map(cerbosRequest);
      const check: Check = (body, index) => {
        const c = workload[index] as WorkloadCase;
        const decision = cerbosDecision(body, c.action);
        return decision === c.expect ? undefined : `Cerbos "${c.name}": ${String(decision)}, expected ${c.expect}`;
      };
      return (await probe(url, path, bodies, check)) ?? ready(server, path, bodies, 1, 'Go; uses both cores, competing with the load generator as our server does');
    });
  },
};

/** Runs of the headline scenario (`decide/subject/off`) in a full run. */
const headlineRuns = 3;

/** The bare route in 2 processes; not `bare/…`, which are the one-process ceiling "vs bare" divides by. */
export const bareWorkersId = 'bare-workers/2';

/** Every HTTP scenario in run order: the ceiling first and last, so drift shows. */
export function scenarios(options: { cerbos: boolean }): Scenario[] {
  const modes: CacheMode[] = ['off', 'memory', 'redis'];
  const kinds: SubjectKind[] = ['subject', 'jwt-es256', 'jwt-rs256', 'opaque'];
  const list: Scenario[] = [bareScenario('bare/start')];
  for (const kind of kinds) {
    for (const mode of modes) {
      // A quick run has each cache mode and each way of naming the subject once.
      const quick = kind === 'subject' || (kind === 'jwt-es256' && mode === 'off') || (kind === 'opaque' && mode === 'memory');
      list.push(decideScenario(kind, mode, { quick }));
      // The headline without its audit line follows each run of the headline: what the line
      // costs is read from the medians of both, measured in the same phases of the machine.
      if (kind === 'subject' && mode === 'off') list.push(decideScenario(kind, mode, { quick, audit: 'none' }));
    }
  }
  list.push(decideScenario('subject', 'default', { quick: true, workers: 2 }), bareScenario(bareWorkersId, 2), authzenEvaluationScenario, authzenBatchScenario);
  if (options.cerbos) list.push(cerbosScenario);
  // The headline again, each time after the ceiling: its aims are judged on the median of its
  // runs, so one slow phase of the shared machine does not decide them.
  for (let run = 2; run <= headlineRuns; run++) {
    list.push(bareScenario(runId('bare/headline', run), 1, run), decideScenario('subject', 'off', { run }), decideScenario('subject', 'off', { run, audit: 'none' }));
  }
  list.push(bareScenario('bare/end'));
  return list;
}

export interface HttpRunOptions {
  readonly tool: LoadTool;
  readonly connections: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly log: (line: string) => void;
}

function describeLoad(load: LoadResult): string {
  const cpu = load.serverCpuUsPerRequest === undefined ? '' : `  CPU ${load.serverCpuUsPerRequest} µs/req`;
  return `${load.rps.toLocaleString('en-US').padStart(7)} req/s  p50 ${(load.latencyUs.p50 / 1000).toFixed(2)} ms  p99 ${(load.latencyUs.p99 / 1000).toFixed(2)} ms${cpu}`;
}

/** Prepares, checks, warms up and loads each scenario in turn, one server at a time. */
export async function runScenarios(list: readonly Scenario[], ctx: HttpContext, options: HttpRunOptions): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  for (const scenario of list) {
    const base = { id: scenario.id, label: scenario.label };
    let prepared: Prepared;
    try {
      prepared = await scenario.prepare(ctx);
    } catch (error) {
      prepared = { fail: (error as Error).message.split('\n').slice(0, 4).join(' | ') };
    }
    if (!('url' in prepared)) {
      const status = 'skip' in prepared ? 'skipped' : 'failed';
      const note = 'skip' in prepared ? prepared.skip : prepared.fail;
      options.log(`http  ${scenario.id.padEnd(34)} ${status}: ${note}`);
      results.push({ ...base, status, note, decisionsPerRequest: 1 });
      continue;
    }
    try {
      const target = { url: prepared.url, path: prepared.path, bodies: prepared.bodies, connections: options.connections };
      if (options.warmupSeconds > 0) await runLoad(options.tool, { ...target, seconds: options.warmupSeconds });
      const load = await runLoad(options.tool, { ...target, seconds: options.seconds, serverPid: prepared.pid });
      const serverRssMiB = prepared.pid === undefined ? undefined : Math.round(await rssMiB(prepared.pid).catch(() => Number.NaN));
      const note = prepared.note;
      options.log(`http  ${scenario.id.padEnd(34)} ${describeLoad(load)}`);
      results.push({ ...base, status: 'measured', decisionsPerRequest: prepared.decisionsPerRequest, load, ...(serverRssMiB !== undefined && { serverRssMiB }), ...(note !== undefined && { note }) });
    } catch (error) {
      const note = (error as Error).message.split('\n').slice(0, 4).join(' | ');
      options.log(`http  ${scenario.id.padEnd(34)} failed: ${note}`);
      results.push({ ...base, status: 'failed', note, decisionsPerRequest: prepared.decisionsPerRequest });
    } finally {
      await prepared.stop();
    }
  }
  const bare = results.filter((r) => r.id.startsWith('bare/') && r.load !== undefined).map((r) => r.load?.rps ?? 0);
  const ceiling = bare.length === 0 ? undefined : bare.reduce((a, b) => a + b, 0) / bare.length;
  return results.map((r) => (r.load === undefined || ceiling === undefined ? r : { ...r, ratioToBare: Math.round((r.load.rps / ceiling) * 1000) / 1000 }));
}
