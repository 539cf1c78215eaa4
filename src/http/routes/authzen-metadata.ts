import { Hono } from 'hono';
import type { AppEnv } from '../env.js';

/**
 * GET /.well-known/authzen-configuration: AuthZEN PDP metadata. URLs are built from
 * `publicUrl` when configured, else from the request's own origin (forwarded headers are
 * not trusted: behind a proxy, set PUBLIC_URL).
 */
export function metadataRoutes(publicUrl: string | undefined): Hono<AppEnv> {
  const configured = publicUrl?.replace(/\/+$/, '');
  return new Hono<AppEnv>().get('/.well-known/authzen-configuration', (c) => {
    const base = configured ?? new URL(c.req.url).origin;
    return c.json({
      policy_decision_point: base,
      access_evaluation_endpoint: `${base}/access/v1/evaluation`,
      access_evaluations_endpoint: `${base}/access/v1/evaluations`,
      search_subject_endpoint: `${base}/access/v1/search/subject`,
      search_resource_endpoint: `${base}/access/v1/search/resource`,
      search_action_endpoint: `${base}/access/v1/search/action`,
    });
  });
}
