import { randomUUID } from 'node:crypto';
import type { DecisionCache, LookedAhead } from '../cache/decision-cache.js';
import type { CacheSource } from '../cache/layer.js';
import { decisionReadsNow, evaluate, type RuleTrace } from '../policy/evaluate.js';
import type { CompiledPolicySet } from '../policy/compiled.js';
import type { PolicyStore } from '../policy/store.js';
import { claimsToSubject, type ClaimMapper, type Claims } from '../token/claims.js';
import { InvalidTokenError } from '../token/errors.js';
import type { TokenVerifier } from '../token/verify.js';
import { withEntityData, type EnrichedEntities } from './enrich.js';
import type { DecisionMeta, DecisionRecord, DecisionRecorder, RecordedOutcome } from './record.js';
import type { Decision, Query, Subject, Turn, Verdict } from './types.js';

/** The subject as a caller may state it: a token to verify, or claims already verified. */
export type SubjectInput =
  | { readonly token: string }
  | { readonly claims: Claims; readonly type?: string; readonly id: string };

/** A subject as resolved, or why its token was refused: awaited only for a token. */
type ResolvedSubject = Subject | InvalidTokenError | Promise<Subject | InvalidTokenError>;

/**
 * What the decisions of one answer made of several share: each subject input resolved, and each
 * subject and resource enriched with entity data. Its items or candidates sharing their
 * request's subject or resource share one, so a token is verified once and claims mapped once,
 * and a subject or resource of 250 KB is keyed for the cache (cache/key.ts) and ordered for
 * conditions (policy/cel.ts) once, not once per decision.
 */
interface Shared {
  readonly subjects: Map<SubjectInput, ResolvedSubject>;
  readonly enriched: EnrichedEntities;
}

/** A decision request before the subject is resolved. */
export interface DecisionRequest {
  readonly subject: SubjectInput;
  readonly action: Query['action'];
  readonly resource: Query['resource'];
  readonly context: Query['context'];
  /** Record every rule considered (`trace`); such answers are for debugging and never cached. */
  readonly explain?: boolean;
  /** Recorded with the decision (metrics, audit); never changes it. */
  readonly meta?: DecisionMeta;
}

export interface DecisionOutcome extends Decision {
  readonly subject: Subject | undefined;
  readonly trace?: readonly RuleTrace[];
  /**
   * Which cache layer answered; absent when the decision was evaluated. A coalesced decision
   * has that of the lookup it joined.
   */
  readonly source?: CacheSource;
  /** Whether it joined an identical cache lookup already in flight (single flight) rather than making one. */
  readonly coalesced: boolean;
}

/** A decision not yet recorded, and what recording it records. */
export interface UnrecordedDecision {
  readonly outcome: DecisionOutcome;
  readonly record: DecisionRecord;
}

/**
 * Requests looked at together ahead of their decisions (`PinnedDecisions.lookAhead`): each one's
 * subject (or why its token was refused) and query, and what the cache holds for them.
 */
export interface LookAhead {
  readonly subjects: ReadonlyMap<DecisionRequest, Subject | InvalidTokenError>;
  readonly queries: ReadonlyMap<DecisionRequest, Query>;
  readonly found: LookedAhead | undefined;
}

/**
 * Decisions for an answer made of several (a batch, a search page), all against one policy
 * set: the caller records each decision the answer gives once the answer is made, and none it
 * leaves out. Requests given one subject input, or one resource, share it resolved and enriched
 * (see Shared).
 */
export interface PinnedDecisions {
  /**
   * Decides without telling the recorder. With `turn`, the decision evaluates in it (after its
   * token's verification and its cache lookup, and not at all when the cache answers): decisions
   * made together then evaluate one at a time, as `turn` orders and paces them, even when what
   * they waited for comes back at once. A rejected turn rejects the decision. With `ahead` (from
   * `lookAhead` for this very request), its subject, query and cache entry are taken from there,
   * and its duration leaves out that shared look-ahead.
   */
  decideUnrecorded(request: DecisionRequest, turn?: Turn, ahead?: LookAhead): Promise<UnrecordedDecision>;
  /**
   * Resolves the subjects of `requests` (each token once) and looks their decisions up in the
   * cache together, one round trip per layer, for `decideUnrecorded` to take: a search page
   * looks its candidates up so rather than one after the other. Each request is enriched and
   * keyed for the cache after `pause` (that of the run the requests are part of, see pacer), so
   * a look-ahead at large entities lets the event loop turn as their evaluation does. Once
   * `stop()` holds after a pause (the run was given up, or is out of time), it goes no further
   * and looks nothing up: a decision then takes what it holds and makes the rest itself.
   */
  lookAhead(requests: readonly DecisionRequest[], pause: () => Promise<void>, stop: () => boolean): Promise<LookAhead>;
  /**
   * The deny for a request that could not be formed (an invalid batch item), not yet recorded:
   * its reason is `invalid_request` with `detail`, and it was decided on nothing. It is timed as
   * `validationMs`, the time finding the request invalid took, and its own making.
   */
  refuse(detail: string, meta: DecisionMeta | undefined, validationMs: number): UnrecordedDecision;
  /** As `DecisionService.record`. */
  record(record: DecisionRecord): void;
}

export interface DecisionServiceDeps {
  readonly policies: PolicyStore;
  /** Verifies tokens and checks their claims (`createTokenVerifier` with `claimsCheck`, as `tokensFromConfig` builds it). */
  readonly tokens: TokenVerifier | undefined;
  /** Claims → subject (where roles, scopes and the id live); the default mapping otherwise. */
  readonly claims?: ClaimMapper;
  readonly clock?: () => Date;
  readonly newId?: () => string;
  readonly recorder?: DecisionRecorder;
  /** Optional decision cache, consulted after the subject is resolved. */
  readonly cache?: DecisionCache;
}

/**
 * A verdict with the decision's id, version, subject, cache source and trace (either may be
 * undefined). Built member by member, always with the same members: V8 (Node 20) makes a spread
 * (`{ ...verdict, decisionId }`, `...(source !== undefined && { source })`) a slow runtime call,
 * and one shape for every outcome keeps the code that reads them monomorphic.
 */
function decisionOutcome(
  verdict: Verdict,
  decisionId: string,
  policyVersion: string,
  subject: Subject,
  source?: CacheSource,
  trace?: readonly RuleTrace[],
  coalesced = false,
): DecisionOutcome {
  return {
    decision: verdict.decision,
    reasons: verdict.reasons,
    advice: verdict.advice,
    decisionId,
    policyVersion,
    subject,
    source,
    trace,
    coalesced,
  };
}

/** A token's refusal as the subject's; any other failure is thrown on, so it is never a decision. */
function refusedToken(error: unknown): InvalidTokenError {
  if (error instanceof InvalidTokenError) return error;
  throw error;
}

/** The outcome as recorded: the same object, unless it was coalesced (its own source then). */
function recordedOutcome(outcome: DecisionOutcome): RecordedOutcome {
  if (!outcome.coalesced) return outcome;
  return {
    decision: outcome.decision,
    reasons: outcome.reasons,
    advice: outcome.advice,
    decisionId: outcome.decisionId,
    policyVersion: outcome.policyVersion,
    subject: outcome.subject,
    source: 'coalesced',
    trace: outcome.trace,
  };
}

/**
 * Resolves the subject, then evaluates. A refused token, a condition that throws, a cache that
 * fails: each ends in deny or in a decision evaluated without it. Anything else is thrown, so it
 * can never be read as a permit.
 */
export class DecisionService {
  readonly #policies: PolicyStore;
  readonly #tokens: TokenVerifier | undefined;
  readonly #claims: ClaimMapper;
  readonly #clock: () => Date;
  readonly #newId: () => string;
  readonly #recorder: DecisionRecorder | undefined;
  readonly #cache: DecisionCache | undefined;

  constructor(deps: DecisionServiceDeps) {
    this.#policies = deps.policies;
    this.#tokens = deps.tokens;
    this.#claims = deps.claims ?? claimsToSubject;
    this.#clock = deps.clock ?? (() => new Date());
    this.#newId = deps.newId ?? randomUUID;
    this.#recorder = deps.recorder;
    this.#cache = deps.cache;
  }

  /** Decides, then tells the recorder once (see `record`); a recorder failure never changes the answer. */
  async decide(request: DecisionRequest): Promise<DecisionOutcome> {
    if (this.#recorder === undefined) return this.#decide(request, this.#policies.current.set);
    const time = this.#clock();
    const started = performance.now();
    const outcome = await this.#decide(request, this.#policies.current.set);
    const durationSeconds = (performance.now() - started) / 1000;
    const { meta, action, resource, context } = request;
    this.record({ meta, time, durationSeconds, action, resource, context, outcome: recordedOutcome(outcome) });
    return outcome;
  }

  /**
   * Decisions for one answer made of several, all against the policy set in force now: a reload
   * while they are made (a batch or a search page lets the event loop turn between decisions)
   * does not answer its first items under one version and the rest under another.
   */
  pinned(): PinnedDecisions {
    const { set } = this.#policies.current;
    const shared: Shared = { subjects: new Map(), enriched: { subjects: new Map(), resources: new Map() } };
    return {
      decideUnrecorded: (request, turn, ahead) => this.#decideUnrecorded(request, set, shared, turn, ahead),
      lookAhead: (requests, pause, stop) => this.#lookAhead(requests, set, shared, pause, stop),
      refuse: (detail, meta, validationMs) => this.#refuse(detail, meta, validationMs, set),
      record: (record) => this.record(record),
    };
  }

  /**
   * Its duration leaves out the wait for `turn`: decisions made together wait there while the
   * others evaluate, and that time is theirs, not this decision's.
   */
  async #decideUnrecorded(request: DecisionRequest, set: CompiledPolicySet, shared: Shared, turn: Turn | undefined, ahead: LookAhead | undefined): Promise<UnrecordedDecision> {
    const time = this.#clock();
    const started = performance.now();
    let waited = 0;
    const timedTurn: Turn | undefined = turn && {
      run: async (evaluate) => {
        const from = performance.now();
        let began: number | undefined;
        try {
          return await turn.run(() => {
            began = performance.now();
            return evaluate();
          });
        } finally {
          waited += (began ?? performance.now()) - from;
        }
      },
      wanted: () => turn.wanted(),
    };
    const outcome = await this.#decide(request, set, shared, timedTurn, ahead);
    const durationSeconds = (performance.now() - started - waited) / 1000;
    const { meta, action, resource, context } = request;
    return { outcome, record: { meta, time, durationSeconds, action, resource, context, outcome: recordedOutcome(outcome) } };
  }

  #refuse(detail: string, meta: DecisionMeta | undefined, validationMs: number, set: CompiledPolicySet): UnrecordedDecision {
    const time = this.#clock();
    const started = performance.now();
    const outcome: DecisionOutcome = {
      decision: 'deny',
      reasons: [{ code: 'invalid_request', detail }],
      advice: [],
      decisionId: this.#newId(),
      policyVersion: set.version,
      subject: undefined,
      source: undefined,
      trace: undefined,
      coalesced: false,
    };
    const durationSeconds = (validationMs + performance.now() - started) / 1000;
    return { outcome, record: { meta, time, durationSeconds, action: null, resource: null, context: null, outcome } };
  }

  /**
   * Tells the recorder of a decision, unless its request was answered without it (`abandoned`):
   * the audit trail and the counts hold only decisions someone was given. Never throws.
   */
  record(record: DecisionRecord): void {
    if (this.#recorder === undefined || record.meta?.abandoned === true) return;
    try {
      this.#recorder.record(record);
    } catch {
      // Recording is best effort by design: the caller gets its decision regardless.
    }
  }

  async #lookAhead(requests: readonly DecisionRequest[], set: CompiledPolicySet, shared: Shared, pause: () => Promise<void>, stop: () => boolean): Promise<LookAhead> {
    const resolved = await Promise.all(requests.map((request) => this.#sharedSubject(request.subject, shared)));
    const subjects = new Map<DecisionRequest, Subject | InvalidTokenError>();
    const queries = new Map<DecisionRequest, Query>();
    const cacheable: Query[] = [];
    for (const [index, request] of requests.entries()) {
      await pause();
      if (stop()) return { subjects, queries, found: undefined };
      const subject = resolved[index];
      if (subject === undefined) continue;
      subjects.set(request, subject);
      if (subject instanceof InvalidTokenError) continue;
      const query = this.#query(request, set, subject, shared.enriched);
      queries.set(request, query);
      if (this.#cache !== undefined && request.explain !== true && !decisionReadsNow(set, query) && this.#cache.serves(query, this.#clock().getTime())) cacheable.push(query);
    }
    const found = this.#cache === undefined ? undefined : await this.#cache.lookAhead(set.version, cacheable, () => this.#clock().getTime(), pause, stop);
    return { subjects, queries, found };
  }

  /**
   * The subject `input` names, or why its token was refused; anything else is thrown. Claims
   * stated by a trusted caller need no waiting: only a token is awaited.
   */
  #subject(input: SubjectInput): ResolvedSubject {
    if ('token' in input) return this.#verified(input.token).catch(refusedToken);
    try {
      return this.#claims(input.claims, input.type, input.id);
    } catch (error) {
      return refusedToken(error);
    }
  }

  /** The subject `input` names, resolved once for all of `shared`. */
  #sharedSubject(input: SubjectInput, shared: Shared): ResolvedSubject {
    let subject = shared.subjects.get(input);
    if (subject === undefined) {
      subject = this.#subject(input);
      shared.subjects.set(input, subject);
    }
    return subject;
  }

  /**
   * The question `request` asks of `subject`, with entity data from the same set as the policies,
   * so a reload never mixes the two; a subject or resource in `enriched` is taken from there.
   */
  #query(request: DecisionRequest, set: CompiledPolicySet, subject: Subject, enriched?: EnrichedEntities): Query {
    return withEntityData(set.entities, { subject, action: request.action, resource: request.resource, context: request.context }, this.#claims, enriched);
  }

  async #decide(request: DecisionRequest, set: CompiledPolicySet, shared?: Shared, turn?: Turn, ahead?: LookAhead): Promise<DecisionOutcome> {
    const decisionId = this.#newId();
    const given = ahead?.subjects.get(request) ?? (shared === undefined ? this.#subject(request.subject) : this.#sharedSubject(request.subject, shared));
    const subject = given instanceof Promise ? await given : given;
    if (subject instanceof InvalidTokenError) {
      return {
        decision: 'deny',
        reasons: [{ code: 'invalid_token', detail: subject.message }],
        advice: [],
        decisionId,
        policyVersion: set.version,
        subject: undefined,
        source: undefined,
        trace: undefined,
        coalesced: false,
      };
    }
    const query = ahead?.queries.get(request) ?? this.#query(request, set, subject, shared?.enriched);
    const trace: RuleTrace[] | undefined = request.explain === true ? [] : undefined;
    // A decision that reads the clock is evaluated every time: served again, it could outlive
    // the condition that made it, and `?explain=true` would then answer otherwise.
    const now = this.#clock();
    if (this.#cache !== undefined && trace === undefined && !decisionReadsNow(set, query) && this.#cache.serves(query, now.getTime())) {
      const { verdict, source, coalesced } = await this.#cache.resolve(set.version, query, now.getTime(), () => evaluate(set, query, now), turn, ahead?.found);
      return decisionOutcome(verdict, decisionId, set.version, query.subject, source, undefined, coalesced);
    }
    const verdict: Verdict = turn === undefined ? evaluate(set, query, now, trace) : await turn.run(() => evaluate(set, query, this.#clock(), trace));
    return decisionOutcome(verdict, decisionId, set.version, query.subject, undefined, trace);
  }

  async #verified(token: string): Promise<Subject> {
    if (this.#tokens === undefined) throw new InvalidTokenError('no token verification is configured');
    // The verifier has held the claims to the JSON limits and found a subject id (claimsCheck).
    return this.#claims(await this.#tokens.verify(token));
  }
}
