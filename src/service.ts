import type { Hono } from 'hono';
import type { Logger } from 'pino';
import { callerKeys } from './caller/keys.js';
import { cacheFromConfig } from './cache/from-config.js';
import { redisTlsFromConfig } from './cache/tls.js';
import { ConfigError, type Config } from './config.js';
import { maskUrl } from './config-summary.js';
import { policySetCandidates } from './decision/candidates.js';
import { CursorSeal } from './decision/cursor-seal.js';
import { SearchService } from './decision/search.js';
import { DecisionService } from './decision/service.js';
import { createApp } from './http/app.js';
import type { AppEnv } from './http/env.js';
import { countRejections } from './http/rejections.js';
import type { ProblemCode } from './http/problem.js';
import { loadCandidateSet } from './policy/candidate.js';
import { formatIssue, PolicyLoadError } from './policy/errors.js';
import { PolicyReloader, type ReloadRequester, type ReloadResult, type ReloadTrigger, type WorkerReload } from './policy/reload.js';
import { PolicyStore } from './policy/store.js';
import { printable } from './printable.js';
import { watchPolicyDir } from './policy/watch.js';
import { AuditLog } from './telemetry/audit.js';
import { auditDestination } from './telemetry/audit-destination.js';
import { onRelayedLoss } from './telemetry/audit-relay.js';
import { metricsSource } from './telemetry/cluster-metrics.js';
import { PdpMetrics } from './telemetry/metrics.js';
import { auditErrorReporter, telemetryRecorder } from './telemetry/recorder.js';
import { tokensFromConfig } from './token/from-config.js';

/** The service as configured, ready to be served: its HTTP app and what it runs beside it. */
export interface Service {
  readonly app: Hono<AppEnv>;
  /**
   * Reloads the policy set from POLICY_DIR (as SIGHUP does, the default trigger); `requester`,
   * who asked for an admin reload in another worker, goes into its log lines.
   */
  reload(trigger?: ReloadTrigger, requester?: ReloadRequester): Promise<ReloadResult>;
  /** Marks the service as stopping, its drain begun: /readyz answers 503 `stopping` from then on. */
  beginStopping(): void;
  /** Stops the background work (key set refreshes, the policy watcher, Redis), then writes out and closes the audit log. */
  close(): Promise<void>;
  /** Writes every audit line still queued or buffered, synchronously; for process exit. */
  flushAudit(): void;
  /** Counts a problem answered before a request reaches the app (the server's 408 and 431). */
  readonly countRejection: (code: ProblemCode) => void;
  /** What the service runs with, for the start-up log line. */
  readonly summary: Record<string, unknown>;
  /** What its configuration risks, to be logged as warnings once for the service (start.ts). */
  readonly warnings: readonly StartupWarning[];
}

/** A start-up warning: the fields of its log line, and its message. */
export interface StartupWarning {
  readonly fields: Record<string, unknown>;
  readonly message: string;
}

/** What the process running the service adds to it. */
export interface ServiceOptions {
  /**
   * Called when the admin endpoint reloads the policies, before this process reloads them
   * (start.ts: under WORKERS, the other workers are asked to reload too, for the same requester);
   * resolves with how each of them went, for the answer.
   */
  readonly onReloadRequested?: ((requester: ReloadRequester) => Promise<readonly WorkerReload[] | undefined>) | undefined;
}

/**
 * Builds the service from its configuration: policies, tokens, caller keys, audit log, decision
 * cache, metrics and the HTTP app over them. Serving it is the caller's part (start.ts).
 */
export async function createService(config: Config, log: Logger, options: ServiceOptions = {}): Promise<Service> {
  // Read first: a file refused here stops the start before anything is opened that would need closing.
  const redisTls = await redisTlsFromConfig(config);
  const metrics = new PdpMetrics();
  // Policy tests run on load map claims as the server will: the token configuration comes first.
  const tokens = await tokensFromConfig(config, {
    observer: metrics,
    onKeySetError: (url, err) => log.warn({ url: maskUrl(url), err: err.message }, 'key set fetch failed; the keys fetched before stay in use'),
    onKeySetUnfit: (url, err) => log.warn({ url: maskUrl(url), err: err.message }, "key set lists no key for an issuer's algorithms; that issuer's tokens are denied until it does"),
    onIntrospectionAvailability: (url, available, err) => {
      if (available) log.info({ url: maskUrl(url) }, 'introspection answering again');
      else log.warn({ url: maskUrl(url), err: err?.message }, 'introspection unavailable: opaque tokens are denied until it answers');
    },
  });
  const runPolicyTests = config.POLICY_TESTS_ON_RELOAD === 'true';
  let policies: PolicyStore;
  try {
    policies = new PolicyStore(await loadCandidateSet(config.POLICY_DIR, { runTests: runPolicyTests, claims: tokens.claims, subjectTypes: tokens.subjectTypes, maxBodyBytes: config.MAX_BODY_BYTES }));
  } catch (error) {
    tokens.close();
    // The loader, which the CLI shares, names files; the start-up line names the setting too.
    // Each problem is one line on stderr, as `pdp` prints it: a key, file or case name holding a
    // line break or a terminal escape printed a line of its own, or drove the terminal.
    if (!(error instanceof PolicyLoadError)) throw error;
    throw new ConfigError(`POLICY_DIR: ${error.issues.map((issue) => printable(formatIssue(issue))).join('\n')}`, { cause: error });
  }
  const reloader = new PolicyReloader({ dir: config.POLICY_DIR, store: policies, runTests: runPolicyTests, claims: tokens.claims, subjectTypes: tokens.subjectTypes, maxBodyBytes: config.MAX_BODY_BYTES, log, observer: metrics });
  const watcher = config.POLICY_WATCH === 'true'
    ? watchPolicyDir(config.POLICY_DIR, () => void reloader.reload('watch'), {
        withTests: runPolicyTests,
        onError: (err, path) => log.warn({ err, path }, 'cannot watch a policy folder'),
      })
    : undefined;
  const callers = callerKeys({ api: config.PDP_API_KEYS, trusted: config.PDP_TRUSTED_KEYS, admin: config.PDP_ADMIN_KEYS });
  const warnings: StartupWarning[] = [];
  if (callers.api.size + callers.trusted.size === 0) {
    warnings.push({ fields: {}, message: 'PDP_API_KEYS is not set: decision endpoints accept every caller, and any caller may send pre-verified subject claims' });
  }
  if (config.INTROSPECTION_URL !== undefined && config.INTROSPECTION_AUDIENCE.length === 0) {
    warnings.push({ fields: {}, message: 'INTROSPECTION_AUDIENCE is not set: an active opaque token is accepted whatever API it was issued for' });
  }
  if (tokens.plainHttpUrls.length > 0) {
    warnings.push({
      fields: { urls: tokens.plainHttpUrls },
      message: 'ALLOW_HTTP_TOKEN_URLS=true and token URLs are plain http:// to a host that is not loopback: anyone on the path can serve their own keys and forge tokens, answer introspection, or read the client secret',
    });
  }
  const auditFailed = auditErrorReporter({ metrics, warn: (fields, message) => log.warn(fields, message) });
  const auditLost = (error: unknown, lines: number) => auditFailed(error, undefined, lines);
  // Under WORKERS a worker's stdout is a pipe to the primary, which writes the lines out: it
  // reports those it took and lost.
  onRelayedLoss(auditLost);
  const audit = new AuditLog({
    sink: auditDestination(config.AUDIT_LOG_FILE, auditLost, {
      reopened: () => log.info({ file: config.AUDIT_LOG_FILE }, 'audit log reopened: AUDIT_LOG_FILE names a new file'),
      failed: (err) => log.warn({ err, file: config.AUDIT_LOG_FILE }, 'AUDIT_LOG_FILE moved away and cannot be reopened: audit lines go on to the file it named'),
      opened: () => log.info({ file: config.AUDIT_LOG_FILE }, 'audit log opened: AUDIT_LOG_FILE, which could not be opened, is written from now on'),
    }),
    decisions: config.AUDIT_DECISIONS,
    redact: config.AUDIT_REDACT,
    maxRequestBytes: config.AUDIT_MAX_REQUEST_BYTES,
    onError: auditFailed,
  });
  const caching = await cacheFromConfig(config, {
    tls: redisTls,
    observer: metrics,
    onRedisStateChange: (state, cause) => {
      if (state === 'up') log.info('redis up: decision cache shared');
      else if (state === 'read_only') log.warn({ err: cause }, 'redis refusing writes: decisions read from it, not shared');
      else log.warn({ err: cause }, 'redis down: deciding without it');
    },
  });
  if (caching.redisMode !== 'disabled' && config.CACHE_SIGNING_SECRET === undefined) {
    warnings.push({ fields: {}, message: 'CACHE_SIGNING_SECRET is not set: whoever can write to Redis can store a permit this service will serve' });
  }
  const decisions = new DecisionService({
    policies,
    tokens: tokens.verifier,
    claims: tokens.claims,
    cache: caching.cache,
    recorder: telemetryRecorder(metrics, audit),
  });
  const search = new SearchService({
    decisions,
    candidates: policySetCandidates(policies),
    // Half the request's time: the page is answered, with a token to go on, before its 503.
    pageBudgetMs: config.REQUEST_TIMEOUT_MS / 2,
    cursors: new CursorSeal(config.PAGE_TOKEN_SECRET),
  });
  const countRejection = countRejections(metrics);
  let stopping = false;
  const app = createApp({
    decisions,
    policies,
    callers,
    search,
    publicUrl: config.PUBLIC_URL,
    redisState: caching.redisState,
    stopping: () => stopping,
    keySets: () => tokens.keySets().map((set) => ({ ...set, url: maskUrl(set.url) })),
    maxBodyBytes: config.MAX_BODY_BYTES,
    admin: { policies, reloader, onReload: options.onReloadRequested },
    requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
    onUnexpectedError: (err, requestId) => log.error({ err, requestId }, 'unexpected error'),
    metrics,
    metricsSource: metricsSource(metrics.registry),
    metricsToken: config.METRICS_TOKEN,
    onProblem: countRejection,
  });
  const { set } = policies.current;
  return {
    app,
    reload: (trigger = 'signal', requester) => reloader.reload(trigger, requester),
    beginStopping: () => {
      stopping = true;
    },
    close: async () => {
      tokens.close();
      watcher?.close();
      await caching.close();
      // Last: every request has been answered, so every audit line has been made.
      await audit.close();
      auditFailed.flush();
    },
    flushAudit: () => audit.closeSync(),
    countRejection,
    summary: {
      policyVersion: set.version,
      policies: set.policies.length,
      rules: set.ruleCount,
      entities: set.entities.size,
      cache: { memoryEntries: config.CACHE_MEMORY_ENTRIES, ttlSeconds: config.CACHE_TTL_SECONDS, redis: caching.redisMode },
      tokens: tokens.summary,
      callers: { api: callers.api.size, trusted: callers.trusted.size, admin: callers.admin.size },
    },
    warnings,
  };
}
