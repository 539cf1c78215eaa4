import type { ClaimMapper } from '../token/claims.js';
import { loadCandidateSet } from './candidate.js';
import type { NamedType } from './entity-names.js';
import type { CompiledPolicySet } from './compiled.js';
import { PolicyLoadError, type PolicyIssue } from './errors.js';
import type { PolicyStore } from './store.js';

/** Told about every reload and every set put in force; metrics implement it. */
export interface ReloadObserver {
  policyReload(result: 'success' | 'failure'): void;
  policyLoaded(version: string, rules: number): void;
}

/** The log lines a reload writes; a pino logger fits. */
export interface ReloadLog {
  info(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** What asked for a reload: the directory watcher, SIGHUP, or the admin endpoint. */
export type ReloadTrigger = 'watch' | 'signal' | 'admin';

/** Who asked for an admin reload, for its log lines: the caller's key fingerprint and the request. */
export interface ReloadRequester {
  readonly caller: string;
  readonly requestId: string;
}

/** The outcome of one reload. On failure the set that was serving keeps serving. */
export type ReloadResult =
  | {
      readonly ok: true;
      readonly version: string;
      readonly previousVersion: string;
      /** False when the files compiled to the version already serving. */
      readonly changed: boolean;
      readonly rules: number;
      readonly loadedAt: Date;
    }
  | { readonly ok: false; readonly version: string; readonly issues: readonly PolicyIssue[] };

/**
 * How a reload went in another worker, as the worker that answered an admin reload reports it:
 * `reloaded` (`version` now serving), `rejected` (`version` keeps serving; `problems` found), or
 * `no_answer` (it exited, or did not answer in time).
 */
export interface WorkerReload {
  readonly worker: number;
  readonly result: 'reloaded' | 'rejected' | 'no_answer';
  readonly version?: string;
  readonly problems?: number;
}

/** The last reload that was rejected. */
export interface ReloadFailure {
  readonly at: Date;
  readonly trigger: ReloadTrigger;
  readonly issues: readonly PolicyIssue[];
}

export interface PolicyReloaderOptions {
  readonly dir: string;
  readonly store: PolicyStore;
  /** Run the fixtures in `dir/tests` and reject a set whose tests fail. */
  readonly runTests?: boolean;
  /** How the tests map claims to subjects: the mapping the server decides with. */
  readonly claims?: ClaimMapper;
  /** The subject types of the server's tokens besides `user`, which entity types are held to (see `loadPolicyDir`). */
  readonly subjectTypes?: readonly NamedType[];
  /** The server's MAX_BODY_BYTES, which a test case's request must keep to. */
  readonly maxBodyBytes?: number;
  readonly observer?: ReloadObserver;
  readonly log?: ReloadLog;
  readonly clock?: () => Date;
}

/**
 * Tells a reload's log or metrics, which have no say in its outcome: one that threw turned a set
 * put in force into a rejected reload, and a rejection it threw stopped every reload after it.
 */
function report(tell: () => void): void {
  try {
    tell();
  } catch {
    // Nowhere left to say so: the outcome stands, and the next reload runs.
  }
}

/**
 * Reloads the policy directory into the store: the whole new set is compiled off to the
 * side and swapped in with one assignment, or rejected with every problem while the last
 * good set keeps serving. Reloads run one at a time; requests that arrive while one runs
 * share a single follow-up reload, which reads the files as they are by then.
 */
export class PolicyReloader {
  readonly #options: PolicyReloaderOptions;
  readonly #clock: () => Date;
  #tail: Promise<unknown> = Promise.resolve();
  #queued: Promise<ReloadResult> | undefined;
  #lastError: ReloadFailure | undefined;

  constructor(options: PolicyReloaderOptions) {
    this.#options = options;
    this.#clock = options.clock ?? (() => new Date());
    const { set } = options.store.current;
    options.observer?.policyLoaded(set.version, set.ruleCount);
  }

  /** The last rejected reload, until a later reload succeeds. */
  get lastError(): ReloadFailure | undefined {
    return this.#lastError;
  }

  /**
   * `requester` goes into the reload's log lines. One that shares a reload already queued is
   * logged as it joins, since the outcome lines name whoever queued it.
   */
  reload(trigger: ReloadTrigger, requester?: ReloadRequester): Promise<ReloadResult> {
    if (this.#queued !== undefined) {
      if (requester !== undefined) report(() => this.#options.log?.info({ trigger, ...requester }, 'policy reload already queued; this request shares its outcome'));
      return this.#queued;
    }
    const run = this.#tail.then(() => {
      this.#queued = undefined;
      return this.#reloadNow(trigger, requester);
    });
    this.#queued = run;
    this.#tail = run;
    return run;
  }

  async #reloadNow(trigger: ReloadTrigger, requester: ReloadRequester | undefined): Promise<ReloadResult> {
    const { dir, store, runTests, claims, subjectTypes, maxBodyBytes, observer, log } = this.#options;
    const previous = store.current.set;
    const started = performance.now();
    let set: CompiledPolicySet;
    try {
      set = await loadCandidateSet(dir, { runTests, claims, subjectTypes, maxBodyBytes, clock: this.#clock });
    } catch (error) {
      // Anything, even an unexpected failure, leaves the last good set serving.
      const issues = error instanceof PolicyLoadError
        ? error.issues
        : [{ file: dir, path: '$', message: `reload failed: ${error instanceof Error ? error.message : String(error)}` }];
      this.#lastError = { at: this.#clock(), trigger, issues };
      report(() => observer?.policyReload('failure'));
      report(() => log?.error({ trigger, ...requester, version: previous.version, issues }, 'policy reload rejected; the last good set keeps serving'));
      return { ok: false, version: previous.version, issues };
    }
    const changed = set.version !== previous.version;
    if (changed) store.replace(set, this.#clock());
    this.#lastError = undefined;
    report(() => observer?.policyReload('success'));
    if (changed) report(() => observer?.policyLoaded(set.version, set.ruleCount));
    report(() => log?.info(
      { trigger, ...requester, version: set.version, previousVersion: previous.version, changed, policies: set.policies.length, rules: set.ruleCount, ms: Math.round(performance.now() - started) },
      changed ? 'policies reloaded' : 'policies unchanged',
    ));
    return { ok: true, version: set.version, previousVersion: previous.version, changed, rules: set.ruleCount, loadedAt: store.current.loadedAt };
  }
}
