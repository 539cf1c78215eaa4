import { resolve } from 'node:path';
import { policySetCandidates } from '../../src/decision/candidates.js';
import { SearchService } from '../../src/decision/search.js';
import type { DecisionRecorder } from '../../src/decision/record.js';
import type { DecisionCache } from '../../src/cache/decision-cache.js';
import { DecisionService } from '../../src/decision/service.js';
import { createApp, type AppDeps } from '../../src/http/app.js';
import { loadPolicyDir } from '../../src/policy/load.js';
import { PolicyReloader } from '../../src/policy/reload.js';
import { PolicyStore } from '../../src/policy/store.js';
import { PdpMetrics } from '../../src/telemetry/metrics.js';
import type { ClaimMapper } from '../../src/token/claims.js';
import type { TokenVerifier } from '../../src/token/verify.js';

export const defaultPolicyDir = resolve(import.meta.dirname, '../../policies');

export interface TestAppOptions {
  readonly policyDir?: string;
  readonly tokens?: TokenVerifier;
  readonly claims?: ClaimMapper;
  readonly clock?: () => Date;
  readonly recorder?: DecisionRecorder;
  readonly cache?: DecisionCache;
  readonly app?: Partial<AppDeps>;
}

/**
 * The real app over a real policy directory, for `app.request(...)` tests. The admin
 * endpoints are mounted as in production: they answer 404 unless `app.callers` has admin keys.
 * `/metrics` serves a fresh registry per app.
 */
export async function buildTestApp(options: TestAppOptions = {}) {
  const dir = options.policyDir ?? defaultPolicyDir;
  const policies = new PolicyStore(await loadPolicyDir(dir));
  const decisions = new DecisionService({ policies, tokens: options.tokens, claims: options.claims, clock: options.clock, recorder: options.recorder, cache: options.cache });
  const search = new SearchService({ decisions, candidates: policySetCandidates(policies) });
  const reloader = new PolicyReloader({ dir, store: policies });
  const app = createApp({ decisions, policies, search, admin: { policies, reloader }, metrics: new PdpMetrics(), ...options.app });
  return { app, policies, decisions, search };
}

/** POSTs JSON to the app. */
export function postJson(app: { request: (path: string, init: RequestInit) => Response | Promise<Response> }, path: string, body: unknown, headers: Record<string, string> = {}) {
  return app.request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** A response body as a plain object, for assertions. */
export async function readJson(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}
