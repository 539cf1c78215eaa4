import { createServer } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { getRequestListener } from '@hono/node-server';
import { buildRef } from './compare.js';
import { bareApp } from './http/bare-app.js';
import { InMemoryConnection, rawJsonPost } from './http/in-memory.js';
import { median } from './stats.js';
import { authzenEvaluation, decideBody, workload } from './workload.js';

type Fetch = (request: Request) => Response | Promise<Response>;

interface ServiceModule {
  createService(config: unknown, log: unknown): Promise<{ readonly app: { readonly fetch: Fetch }; close(): Promise<void> }>;
}

/** One app under test, served by node:http and reached through an in-memory connection. */
interface Target {
  readonly label: string;
  readonly connection: InMemoryConnection;
  /** The workload as raw requests to this target's path, sent in turn. */
  readonly requests: readonly Buffer[];
  readonly close: () => Promise<void>;
}

function served(label: string, fetch: Fetch, requests: readonly Buffer[], close: () => Promise<void>): Target {
  return { label, connection: new InMemoryConnection(createServer(getRequestListener(fetch))), requests, close };
}

/**
 * The service of a build's dist/ folder, built by its own `createService` in the default
 * configuration (audit lines written to /dev/null, metrics on) with `env` on top, in this process,
 * serving the policies of the build's own tree.
 */
async function serviceTarget(label: string, dist: string, requests: readonly Buffer[], env: Readonly<Record<string, string>> = {}): Promise<Target> {
  const load = async <M>(file: string) => (await import(pathToFileURL(join(dist, file)).href)) as M;
  const { createService } = await load<ServiceModule>('service.js').catch(() => {
    throw new Error(`${dist} has no service.js: builds before createService (src/service.ts) cannot be loaded in process`);
  });
  const { loadConfig } = await load<{ loadConfig(env: NodeJS.ProcessEnv): unknown }>('config.js');
  const { createLogger } = await load<{ createLogger(level: string): unknown }>('logger.js');
  const config = loadConfig({ NODE_ENV: 'production', POLICY_DIR: resolve(dist, '../policies'), AUDIT_LOG_FILE: '/dev/null', LOG_LEVEL: 'error', ...env });
  const service = await createService(config, createLogger('error'));
  return served(label, service.app.fetch, requests, () => service.close());
}

/** What `--hotpath` measured: µs per request of each target, and each target against the first. */
export interface HotPathResult {
  readonly rounds: number;
  readonly requestsPerRound: number;
  readonly targets: readonly {
    readonly label: string;
    readonly medianUs: number;
    /** Median over rounds of this target's time ÷ the first target's, both measured in the same round. */
    readonly ratioToFirst: number;
  }[];
}

/**
 * `/decide` with pre-verified subjects (the 22-case workload; with `endpoint` authzen, AuthZEN
 * evaluations of it) on this checkout's build, on the same build with AUDIT_DECISIONS=none, on
 * the bare Hono route, and with `compare` on that commit's build too, all in this one process and
 * each through node:http on an in-memory connection: no kernel, no load generator, one request
 * at a time. Rounds rotate the order of the targets, so all of them see the same machine; one
 * process means no difference in memory layout or core between the builds either. What is left
 * is each app's own cost per request, which the shared machine's noise hides over real sockets.
 */
export async function runHotPath(
  options: { readonly compare?: string; readonly endpoint: 'decide' | 'authzen'; readonly rounds: number; readonly requestsPerRound: number },
  log: (line: string) => void,
): Promise<HotPathResult> {
  const bodies = options.endpoint === 'authzen' ? workload.map(authzenEvaluation) : workload.map(decideBody);
  const path = options.endpoint === 'authzen' ? '/access/v1/evaluation' : '/decide';
  const requests = bodies.map((body) => rawJsonPost(path, body));
  const targets: Target[] = [await serviceTarget('this checkout', resolve('dist'), requests)];
  if (options.compare !== undefined) {
    const baseline = buildRef(options.compare);
    targets.push(await serviceTarget(baseline.commit, dirname(baseline.main), requests));
  }
  // The same build without its audit line: the line's share of a request, measured beside it.
  targets.push(await serviceTarget('no audit line', resolve('dist'), requests, { AUDIT_DECISIONS: 'none' }));
  // The bare route takes any JSON body at /decide: AuthZEN bodies go there too.
  targets.push(served('bare Hono route', bareApp().fetch, bodies.map((body) => rawJsonPost('/decide', body)), async () => undefined));
  const times: number[][] = targets.map(() => []);
  const run = async (target: Target) => {
    const { requests } = target;
    const started = process.hrtime.bigint();
    for (let i = 0; i < options.requestsPerRound; i++) {
      // Each request in a turn of the event loop of its own, as off a socket: the audit log's
      // writes complete in between, as they do in a served process.
      await new Promise(setImmediate);
      const failure = await target.connection.exchange(requests[i % requests.length] as Buffer);
      if (failure !== undefined) throw new Error(`${target.label} answered: ${failure}`);
    }
    return Number(process.hrtime.bigint() - started) / options.requestsPerRound / 1000;
  };
  try {
    for (let warm = 0; warm < 3; warm++) for (const target of targets) await run(target);
    for (let round = 0; round < options.rounds; round++) {
      for (let k = 0; k < targets.length; k++) {
        const index = (round + k) % targets.length;
        (times[index] as number[]).push(await run(targets[index] as Target));
      }
    }
  } finally {
    for (const target of targets) await target.close();
  }
  const first = times[0] as number[];
  const round2 = (n: number) => Math.round(n * 100) / 100;
  const result: HotPathResult = {
    rounds: options.rounds,
    requestsPerRound: options.requestsPerRound,
    targets: targets.map((target, i) => {
      const own = times[i] as number[];
      return { label: target.label, medianUs: round2(median(own)), ratioToFirst: Math.round(median(own.map((t, r) => t / (first[r] as number))) * 1000) / 1000 };
    }),
  };
  for (const t of result.targets) log(`hotpath  ${t.label.padEnd(20)} ${t.medianUs.toFixed(2).padStart(7)} µs/request  ×${t.ratioToFirst} of this checkout`);
  return result;
}
