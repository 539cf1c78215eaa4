import type { HttpBindings } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { metadataCaching } from '../cache-control.js';
import type { AppEnv } from '../env.js';
import { pdpIdentifierPath } from '../../pdp-identifier.js';
import { ProblemError } from '../problem.js';

const wellKnown = '/.well-known/authzen-configuration';

const hostProblem = (message: string) =>
  new ProblemError('invalid_request', 'the metadata names this service by the Host the request was sent to: send a Host header, or set PUBLIC_URL', [{ path: 'Host', message }]);

/**
 * The origin the request was sent to. Served by @hono/node-server, a request without a Host
 * header (HTTP/1.0) or with an empty one is given the listening address instead (`0.0.0.0`,
 * without the port), which no client can reach: refused. So is a Host no URL can hold, which
 * the server passes on unchecked when it is made of letters, digits, dots and dashes
 * (`256.1.1.1`, `foo.1`). A request built without a server (in process, or by another
 * runtime) carries its whole URL.
 */
function requestOrigin(c: Context<AppEnv>): string {
  const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming;
  if (incoming !== undefined && (incoming.headers.host ?? '').trim() === '') throw hostProblem('required, and not empty, unless PUBLIC_URL is set');
  if (!URL.canParse(c.req.url)) throw hostProblem('not a host name or address a URL can hold (WHATWG URL)');
  return new URL(c.req.url).origin;
}

/**
 * GET /.well-known/authzen-configuration: AuthZEN PDP metadata. URLs are built from
 * `publicUrl` when configured, else from the origin the request was sent to (forwarded headers
 * are not trusted: behind a proxy, set PUBLIC_URL). `publicUrl` is the PDP identifier and is
 * advertised exactly as configured: a PEP refuses a document whose `policy_decision_point`
 * differs from the identifier it used ("PDP Metadata Validation"), so config admits only the
 * canonical form (pdp-identifier.ts) and this throws for any other. AuthZEN 1.0 ("Obtaining PDP
 * Metadata") puts the well-known name between the host and the path of the identifier: for
 * `https://pdp.example.com/authz` the document is at `/.well-known/authzen-configuration/authz`,
 * and only there, since a client asking elsewhere would find an identifier it did not ask for.
 * The endpoints it lists are served under that path as well as without it (app.ts).
 */
export function metadataRoutes(publicUrl: string | undefined): Hono<AppEnv> {
  // Config admits only paths of unreserved characters, which Hono matches as they are written.
  const path = publicUrl === undefined ? '' : pdpIdentifierPath(publicUrl);
  return new Hono<AppEnv>().get(`${wellKnown}${path}`, (c) => {
    const pdp = publicUrl ?? requestOrigin(c);
    return c.json({
      policy_decision_point: pdp,
      access_evaluation_endpoint: `${pdp}/access/v1/evaluation`,
      access_evaluations_endpoint: `${pdp}/access/v1/evaluations`,
      search_subject_endpoint: `${pdp}/access/v1/search/subject`,
      search_resource_endpoint: `${pdp}/access/v1/search/resource`,
      search_action_endpoint: `${pdp}/access/v1/search/action`,
    }, 200, metadataCaching);
  });
}
