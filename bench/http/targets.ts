import { dirname, resolve } from 'node:path';
import { start, waitForHttp, type Child } from './processes.js';

/** Environment variables of the service that a scenario sets itself; cleared otherwise. */
const serviceVariables = [
  'PORT', 'HOST', 'POLICY_DIR', 'WORKERS', 'REDIS_URL', 'REDIS_CLUSTER_NODES', 'CACHE_MEMORY_ENTRIES', 'CACHE_TTL_SECONDS', 'CACHE_PREFIX',
  'JWKS_FILE', 'JWKS_URL', 'JWT_ISSUER', 'JWT_AUDIENCE', 'JWT_ALGORITHMS', 'INTROSPECTION_URL', 'INTROSPECTION_CLIENT_ID',
  'INTROSPECTION_CLIENT_SECRET', 'PDP_API_KEYS', 'PDP_TRUSTED_KEYS', 'PDP_ADMIN_KEYS', 'METRICS_TOKEN', 'AUDIT_LOG_FILE',
  'AUDIT_DECISIONS', 'AUDIT_REDACT',
];

/** A running invoice-pdp (`node dist/main.js`), as `npm start` runs it. */
export interface RunningPdp {
  readonly url: string;
  readonly child: Child;
}

/** Which build to start and with which Node flags; the default is this checkout's dist/. */
export interface PdpBuild {
  readonly main?: string;
  readonly nodeArgs?: readonly string[];
}

/**
 * Starts the compiled service on a free port with `env` on top of a clean service environment,
 * serving the policies of its own tree (a build from before a change to the policy language
 * could not load this checkout's).
 */
export async function startPdp(env: Readonly<Record<string, string>>, build: PdpBuild = {}): Promise<RunningPdp> {
  const clean: Record<string, string | undefined> = {};
  for (const name of serviceVariables) clean[name] = undefined;
  const main = resolve(build.main ?? 'dist/main.js');
  const { child, port } = await start(process.execPath, [...(build.nodeArgs ?? []), main], {
    env: { ...clean, NODE_ENV: 'production', WORKERS: '1', LOG_LEVEL: 'info', POLICY_DIR: resolve(dirname(main), '../policies'), ...env, PORT: '0', HOST: '127.0.0.1' },
    portFrom: (line) => {
      if (!line.includes('invoice-pdp listening')) return undefined;
      try {
        const port = (JSON.parse(line) as { port?: unknown }).port;
        return typeof port === 'number' ? port : undefined;
      } catch {
        return undefined;
      }
    },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/readyz`, 20_000, () => child.process.exitCode === null);
  return { url, child };
}

/** Starts the bare Hono route (bench/http/bare-server.ts), in `workers` processes, with `workUs` µs of CPU work per request. */
export async function startBare(workers = 1, workUs = 0): Promise<RunningPdp> {
  const { child, port } = await start(process.execPath, [resolve('.cache/bench-build/bench/http/bare-server.js')], {
    env: { BARE_WORKERS: String(workers), BARE_WORK_US: String(workUs) },
    portFrom: (line) => {
      try {
        const port = (JSON.parse(line) as { port?: unknown }).port;
        return typeof port === 'number' ? port : undefined;
      } catch {
        return undefined;
      }
    },
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

/** POSTs JSON and returns the status and parsed body (undefined when not JSON). */
export async function postJson(url: string, body: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as unknown };
  } catch {
    return { status: res.status, body: undefined };
  }
}
