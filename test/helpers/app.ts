import { resolve } from 'node:path';
import type { DecisionCache } from '../../src/cache/decision-cache.js';
import { DecisionService } from '../../src/decision/service.js';
import { createApp, type AppDeps } from '../../src/http/app.js';
import { loadPolicyDir } from '../../src/policy/load.js';
import { PolicyStore } from '../../src/policy/store.js';
import type { TokenVerifier } from '../../src/token/verify.js';

export const defaultPolicyDir = resolve(import.meta.dirname, '../../policies');

export interface TestAppOptions {
  readonly policyDir?: string;
  readonly tokens?: TokenVerifier;
  readonly clock?: () => Date;
  readonly cache?: DecisionCache;
  readonly app?: Partial<AppDeps>;
}

/** The real app over a real policy directory, for `app.request(...)` tests. */
export async function buildTestApp(options: TestAppOptions = {}) {
  const policies = new PolicyStore(await loadPolicyDir(options.policyDir ?? defaultPolicyDir));
  const decisions = new DecisionService({ policies, tokens: options.tokens, clock: options.clock, cache: options.cache });
  const app = createApp({ decisions, policies, ...options.app });
  return { app, policies, decisions };
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
