import { Hono, type Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { CallerKeys } from '../caller/keys.js';
import type { SearchService } from '../decision/search.js';
import type { RedisState } from '../cache/redis.js';
import type { DecisionService } from '../decision/service.js';
import type { PolicyStore } from '../policy/store.js';
import type { KeySetState } from '../token/jwks.js';
import type { AppEnv } from './env.js';
import { adminAuth, callerIdentifier, decisionPathPrefixes } from './middleware/caller-auth.js';
import type { HttpObserver } from './middleware/http-metrics.js';
import { bodySizeLimit } from './middleware/body-limit.js';
import { requestFrame } from './middleware/request-frame.js';
import { authzenEndpoints, authzenRoutes } from './routes/authzen.js';
import { pdpIdentifierPath } from '../pdp-identifier.js';
import { adminRoutes, type AdminDeps } from './routes/admin.js';
import { RequestDeadlines } from './middleware/timeout.js';
import { cutLength, echoed } from '../echoed-text.js';
import { problem, ProblemError, type ProblemCode } from './problem.js';
import { decideRoutes } from './routes/decide.js';
import { healthRoutes } from './routes/health.js';
import { scrapeTimeoutMs, type MetricsSource } from '../telemetry/cluster-metrics.js';
import { metricsRoutes } from './routes/metrics.js';

export interface AppDeps {
  readonly decisions: DecisionService;
  readonly policies: PolicyStore;
  /** AuthZEN search over the candidates known to the service. */
  readonly search: SearchService;
  /**
   * The PDP identifier AuthZEN metadata advertises (PUBLIC_URL), in canonical form; the request's
   * origin when unset. With a path, the AuthZEN endpoints are also served under that path.
   */
  readonly publicUrl?: string;
  /** Largest accepted request body, bytes. */
  readonly maxBodyBytes?: number;
  readonly onUnexpectedError?: (error: unknown, requestId: string | undefined) => void;
  /** Caller keys for the decision and admin endpoints; without them callers are not authenticated. */
  readonly callers?: CallerKeys;
  /** The admin endpoints (behind admin keys: 404 when none are configured). */
  readonly admin?: AdminDeps;
  /** HTTP metrics and the registry `GET /metrics` serves; without it neither exists. */
  readonly metrics?: HttpObserver & { readonly registry: MetricsSource };
  /** What `GET /metrics` serves instead of `metrics.registry`, e.g. the sum over cluster workers. */
  readonly metricsSource?: MetricsSource;
  /** When set, `GET /metrics` needs `Authorization: Bearer <metricsToken>`. */
  readonly metricsToken?: string;
  /** Remote token key sets and their freshness, for /readyz. */
  readonly keySets?: () => readonly { readonly url: string; readonly state: KeySetState }[];
  /** Redis' state for /readyz; `disabled` when absent. */
  readonly redisState?: () => RedisState;
  /** Whether the service has begun to stop (a drain after SIGTERM): /readyz then answers 503 `stopping`. */
  readonly stopping?: () => boolean;
  /** Longest a request may take before it is answered 503 `timeout`, ms; /healthz, /readyz, /metrics and /admin/* excepted. */
  readonly requestTimeoutMs?: number;
  /** Called once for every problem answered (400 … 503), e.g. `countRejections(metrics)`. */
  readonly onProblem?: (code: ProblemCode) => void;
}

/**
 * The probes and the scrape are not decisions, and REQUEST_TIMEOUT_MS (as short as 10 ms) does
 * not bound them: a scrape under WORKERS waits for every worker's registry, up to
 * `gatherTimeoutMs`, and would otherwise be answered 503 and counted as a decision timeout.
 * Their own deadline only backs up the bound the scrape keeps itself.
 */
const probePaths: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);
const probeTimeoutMs = scrapeTimeoutMs + 1_000;

/**
 * Nor are the admin endpoints. A reload waits for any reload already running, then reads and
 * compiles the whole policy directory (up to three times while files keep changing) and, with
 * POLICY_TESTS_ON_RELOAD, runs every test case: tens of ms for the shipped set, past a short
 * decision deadline, whose 503 would report a failure for a reload that went through and hide
 * a rejected set's 422. A minute leaves room for two reloads of a set a thousand times the
 * shipped one; a reload that outlasts it is waiting on I/O that may never end (a hung network
 * file system) and is answered 503 while it goes on, its outcome logged and shown by
 * `GET /admin/policies`.
 */
const adminPrefix = '/admin/';
const adminTimeoutMs = 60_000;

/** The longest the app may take to answer a request, when decisions are due within `requestTimeoutMs`. */
export function longestAnswerMs(requestTimeoutMs: number): number {
  return Math.max(adminTimeoutMs, probeTimeoutMs, requestTimeoutMs);
}

/** The methods each path of `routes` is served for (`GET` and `HEAD`, `POST`). */
function routedMethods(routes: Hono<AppEnv>['routes']): ReadonlyMap<string, ReadonlySet<string>> {
  const methods = new Map<string, Set<string>>();
  // Middleware is registered for every method (`ALL`); routes for theirs.
  for (const { method, path } of routes) {
    if (method === 'ALL') continue;
    // 404 and 405 look paths up as they are: a pattern would match none.
    if (/[:*]/.test(path)) throw new Error(`route ${method} ${path}: routes are served on fixed paths only`);
    const set = methods.get(path) ?? new Set<string>();
    set.add(method);
    // Hono answers HEAD with the GET route.
    if (method === 'GET') set.add('HEAD');
    methods.set(path, set);
  }
  return methods;
}

/** Builds the HTTP application; every dependency is passed in, nothing is built per request. */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  const maxBodyBytes = deps.maxBodyBytes ?? 1024 * 1024;
  const app = new Hono<AppEnv>();
  // A request is counted under the problem it was answered with. One answered already (408 or
  // 503 while its route went on) is not counted again for what the route met later (the rest of
  // its body not JSON, too large, or never sent): that problem reaches no one.
  const reject: typeof problem = (c, error) => {
    if (c.get('answered') !== true) deps.onProblem?.(error.code);
    return problem(c, error);
  };

  const answerError = (error: unknown, c: Context<AppEnv>): Response => {
    if (error instanceof ProblemError) return reject(c, error);
    if (error instanceof HTTPException && error.status < 500) {
      return reject(c, new ProblemError('invalid_request', error.message || 'bad request', [{ path: '$', message: error.message || 'bad request' }]));
    }
    deps.onUnexpectedError?.(error, c.get('requestId'));
    return reject(c, new ProblemError('internal', 'the request could not be completed'));
  };

  // PUBLIC_URL's path (`/authz`), under which the AuthZEN endpoints are served as well as at `/`
  // (where a proxy that strips the path sends them): its `/access/v1` is authenticated alike.
  const authzenPath = deps.publicUrl === undefined ? '' : pdpIdentifierPath(deps.publicUrl);
  const protect = authzenPath === '' ? decisionPathPrefixes : [...decisionPathPrefixes, `${authzenPath}/access/v1`];
  const caller = callerIdentifier({ keys: deps.callers, protect });
  const frame = (deadlines: RequestDeadlines) => requestFrame({ caller, deadlines, observer: deps.metrics, answer: answerError });
  const requestTimeoutMs = deps.requestTimeoutMs ?? 5_000;
  const decisionFrame = frame(new RequestDeadlines(requestTimeoutMs));
  const probeFrame = frame(new RequestDeadlines(probeTimeoutMs));
  // Never shorter than a decision's: REQUEST_TIMEOUT_MS may be set up to 120 s.
  const adminFrame = frame(new RequestDeadlines(longestAnswerMs(requestTimeoutMs)));
  const frameOf = (path: string) => {
    if (probePaths.has(path)) return probeFrame;
    return path.startsWith(adminPrefix) ? adminFrame : decisionFrame;
  };
  app.use((c, next) => frameOf(c.req.path)(c, next));
  app.use('/admin/*', adminAuth({ keys: deps.callers }));
  // Filled once every route is in place, below.
  let routed: ReadonlyMap<string, ReadonlySet<string>> = new Map();
  /** The 404 or 405 of a request no route takes (undefined for one a route takes), with `headers`. */
  const unrouted = (c: Context<AppEnv>, headers: Record<string, string> = {}): ProblemError | undefined => {
    const methods = routed.get(c.req.path);
    // The path is bounded by the header size limit alone, and `instance` already holds it whole.
    const path = `${echoed(c.req.path)}${cutLength(c.req.path)}`;
    if (methods === undefined) return new ProblemError('not_found', `no route for ${c.req.method} ${path}`, undefined, headers);
    if (methods.has(c.req.method)) return undefined;
    const allow = [...methods].join(', ');
    return new ProblemError('method_not_allowed', `${path} takes ${allow}, not ${c.req.method}`, undefined, { ...headers, allow });
  };
  app.use(
    bodySizeLimit({
      maxSize: maxBodyBytes,
      // The rest of the body is still on its way: close, once it has been read and dropped (see
      // linger.ts), rather than leave the connection to a race. A body too large sent where no
      // route takes it is a wrong path or method first.
      onError: (c) => reject(c, unrouted(c, { connection: 'close' }) ?? new ProblemError('payload_too_large', `body larger than ${maxBodyBytes} bytes`, [{ path: '$', message: `larger than ${maxBodyBytes} bytes (MAX_BODY_BYTES)` }], { connection: 'close' })),
    }),
  );

  app.route('/', healthRoutes(deps.policies, deps.redisState, deps.keySets, deps.stopping));
  app.route('/', decideRoutes(deps.decisions));
  app.route('/', authzenRoutes({ decisions: deps.decisions, search: deps.search, publicUrl: deps.publicUrl }));
  if (authzenPath !== '') app.route(authzenPath, authzenEndpoints({ decisions: deps.decisions, search: deps.search }));
  if (deps.admin !== undefined) app.route('/', adminRoutes(deps.admin));
  if (deps.metrics !== undefined) app.route('/', metricsRoutes(deps.metricsSource ?? deps.metrics.registry, deps.metricsToken));

  // Every route is in place: nothing is added after this point.
  routed = routedMethods(app.routes);
  app.notFound((c) => reject(c, unrouted(c) ?? new ProblemError('not_found', `no route for ${c.req.method} ${c.req.path}`)));
  app.onError(answerError);
  return app;
}
