import type { Context } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { AppEnv } from '../env.js';

/** Told of every HTTP request once it has been answered. */
export interface HttpObserver {
  httpRequest(method: string, route: string, status: number, seconds: number): void;
}

/** The `route` of a request no route matched. */
const unmatchedRoute = 'unmatched';

/**
 * The template of the route that answers (`/decide`), never the raw path, so the label stays
 * bounded. Middleware is registered for every method (`ALL`), endpoints for theirs; a request
 * that middleware answered early (e.g. 413) still names the endpoint it was sent to.
 */
export function routeTemplate(c: Context<AppEnv>): string {
  for (const route of matchedRoutes(c)) {
    if (route.method !== 'ALL') return route.path;
  }
  return unmatchedRoute;
}
