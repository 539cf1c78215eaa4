import { Hono } from 'hono';
import type { SearchService } from '../../decision/search.js';
import type { DecisionService } from '../../decision/service.js';
import type { AppEnv } from '../env.js';
import { requireTrustedCaller } from '../middleware/caller-auth.js';
import { evaluationRoutes } from './authzen-evaluation.js';
import { evaluationsRoutes } from './authzen-evaluations.js';
import { metadataRoutes } from './authzen-metadata.js';
import { searchRoutes } from './authzen-search.js';

export interface AuthzenDeps {
  readonly decisions: DecisionService;
  readonly search: SearchService;
  /** Base URL the metadata advertises; the request's own origin when unset. */
  readonly publicUrl?: string;
}

/**
 * The AuthZEN endpoints, `/access/v1/*`: app.ts mounts them at `/` and, when PUBLIC_URL has a
 * path, under that path too. An AuthZEN request states its subject itself, so only trusted
 * callers may make one.
 */
export function authzenEndpoints(deps: Pick<AuthzenDeps, 'decisions' | 'search'>): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .use('/access/v1/*', async function trustedCallersOnly(c, next) {
      requireTrustedCaller(c, '$.subject', 'AuthZEN requests state their subject, which only trusted callers (PDP_TRUSTED_KEYS) may do');
      await next();
    })
    .route('/', evaluationRoutes(deps.decisions))
    .route('/', evaluationsRoutes(deps.decisions))
    .route('/', searchRoutes(deps.search));
}

/** The OpenID AuthZEN Authorization API 1.0, on the same decision service as /decide: the endpoints and the metadata. */
export function authzenRoutes(deps: AuthzenDeps): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .route('/', authzenEndpoints(deps))
    .route('/', metadataRoutes(deps.publicUrl));
}
