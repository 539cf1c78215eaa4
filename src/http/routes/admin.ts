import { Hono } from 'hono';
import type { PolicyReloader, ReloadRequester, WorkerReload } from '../../policy/reload.js';
import type { PolicySource } from '../../policy/schema.js';
import type { PolicyStore } from '../../policy/store.js';
import { noStore } from '../cache-control.js';
import type { AppEnv } from '../env.js';
import { ProblemError } from '../problem.js';

/** A policy as loaded, less the editor's `$schema` link. */
function withoutSchemaLink(policy: PolicySource): Omit<PolicySource, '$schema'> {
  const copy = { ...policy };
  delete copy.$schema;
  return copy;
}

export interface AdminDeps {
  readonly policies: PolicyStore;
  readonly reloader: PolicyReloader;
  /**
   * Told of each reload asked for here, before it runs (under WORKERS: so every other worker
   * reloads too, logged with the same requester); resolves with how each of them went, which the
   * answer lists as `workers`, or undefined when that could not be learnt.
   */
  readonly onReload?: ((requester: ReloadRequester) => Promise<readonly WorkerReload[] | undefined>) | undefined;
}

/**
 * GET /admin/policies (what is serving, and the last rejected reload) and
 * POST /admin/policies/reload (200 with the new version, or 422 with every problem while the
 * last good set keeps serving; under WORKERS either says how the other workers' reloads went;
 * `onReload` passes the request on). Guarded by the admin-key middleware: 404 without PDP_ADMIN_KEYS.
 */
export function adminRoutes(deps: AdminDeps): Hono<AppEnv> {
  const { policies, reloader, onReload } = deps;
  return new Hono<AppEnv>()
    .get('/admin/policies', (c) => {
      const { set, loadedAt } = policies.current;
      const failure = reloader.lastError;
      return c.json({
        version: set.version,
        loadedAt: loadedAt.toISOString(),
        rules: set.ruleCount,
        policies: set.policies.map(withoutSchemaLink),
        lastReloadError: failure === undefined
          ? null
          : { at: failure.at.toISOString(), trigger: failure.trigger, issues: failure.issues },
      }, 200, noStore);
    })
    .post('/admin/policies/reload', async (c) => {
      const requester = { caller: c.get('caller').id, requestId: c.get('requestId') };
      const others = onReload?.(requester);
      const result = await reloader.reload('admin', requester);
      const workers = await others;
      if (!result.ok) {
        throw new ProblemError(
          'policy_invalid',
          `the policy set was rejected (${result.issues.length} problem(s)); version ${result.version} keeps serving`,
          result.issues.map((issue) => ({ file: issue.file, path: issue.path, message: issue.message, ...(issue.rule !== undefined && { rule: issue.rule }) })),
          undefined,
          workers && { workers },
        );
      }
      return c.json({
        version: result.version,
        previousVersion: result.previousVersion,
        changed: result.changed,
        rules: result.rules,
        loadedAt: result.loadedAt.toISOString(),
        ...(workers !== undefined && { workers }),
      });
    });
}
