import type { CandidateSource, EntityRef } from './candidates.js';
import { CursorSeal } from './cursor-seal.js';
import { pacer } from '../pace.js';
import type { DecisionMeta, DecisionRecord } from './record.js';
import type { DecisionRequest, DecisionService, LookAhead, PinnedDecisions, SubjectInput } from './service.js';
import type { Query } from './types.js';

const empty: Readonly<Record<string, unknown>> = Object.freeze({});

/** Which subjects of `subjectType` may do `action` on `resource`? */
export interface SubjectSearch {
  readonly kind: 'subject';
  readonly subjectType: string;
  readonly action: Query['action'];
  readonly resource: Query['resource'];
  readonly context: Query['context'];
}

/** On which resources of `resourceType` may `subject` do `action`? */
export interface ResourceSearch {
  readonly kind: 'resource';
  readonly subject: SubjectInput;
  readonly action: Query['action'];
  readonly resourceType: string;
  readonly context: Query['context'];
}

/** Which actions may `subject` do on `resource`? */
export interface ActionSearch {
  readonly kind: 'action';
  readonly subject: SubjectInput;
  readonly resource: Query['resource'];
  readonly context: Query['context'];
}

export type SearchQuery = SubjectSearch | ResourceSearch | ActionSearch;

/** A search hit: an entity, or an action name. */
export type SearchHit = EntityRef | { readonly name: string };

export interface SearchPage {
  /** Most hits to return. */
  readonly limit: number;
  /** Resume after this candidate key (from a previous page's `after`). */
  readonly after?: string;
  /**
   * When the request for the page began, on performance.now()'s clock: the time budget runs
   * from here, as the request's deadline does, so the time its body took to arrive is spent
   * from it too. The page's own start when absent.
   */
  readonly startedAt?: number;
  /**
   * Recorded with the decision of every candidate the page answers for (metrics and audit).
   * Once `abandoned` is set, the page stops: what it finds after that reaches no one.
   */
  readonly meta?: DecisionMeta;
}

export interface SearchResult {
  readonly hits: readonly SearchHit[];
  /**
   * Key to resume from when more hits exist (or a budget ran out); undefined on the last page.
   * It may be a candidate the caller may not see: it leaves the service sealed (`cursors`).
   */
  readonly after: string | undefined;
}

/**
 * Most candidates looked up in the cache together: each reply is at most 64 KiB (entry.ts), so
 * one round trip holds at most some 6 MiB (a policy's own decisions can come near it: many
 * permitting rules with long advice), decoded a reply at a time (cache/redis.ts).
 */
const maxLookAhead = 100;

interface Candidate {
  readonly key: string;
  readonly hit: SearchHit;
  readonly request: DecisionRequest;
}

/** The decision service as a search uses it: pinned to one policy set a page, decisions recorded once the page is made. */
export type SearchDecisions = Pick<DecisionService, 'pinned'>;

export interface SearchServiceDeps {
  readonly decisions: SearchDecisions;
  readonly candidates: CandidateSource;
  /**
   * Most candidates one page evaluates (default 2,000). A page that reaches it ends early,
   * possibly short of its limit, with a token to go on: one request never runs unbounded.
   */
  readonly maxCandidatesPerPage?: number;
  /**
   * Longest one page evaluates, ms (default 2,500, half the default request timeout), counted
   * from the request's start (`SearchPage.startedAt`) and ended early the same way. Keep it
   * well under the request timeout, so the page is answered.
   */
  readonly pageBudgetMs?: number;
  /** Seals the cursors pages resume from (a random key unless given; see CursorSeal). */
  readonly cursors?: CursorSeal;
}

/**
 * Answers searches by evaluating every candidate through the decision service, exactly as a
 * single evaluation would be, so a hit fed back as an evaluation is permitted. The searched-for
 * entity is the candidate as stored: an id or properties the request gives for it are ignored.
 */
export class SearchService {
  readonly #decisions: SearchDecisions;
  readonly #candidates: CandidateSource;
  readonly #maxCandidates: number;
  readonly #budgetMs: number;
  /** Seals `after` for the caller to hand back, and opens it again. */
  readonly cursors: CursorSeal;

  constructor(deps: SearchServiceDeps) {
    this.#decisions = deps.decisions;
    this.#candidates = deps.candidates;
    this.#maxCandidates = deps.maxCandidatesPerPage ?? 2_000;
    this.#budgetMs = deps.pageBudgetMs ?? 2_500;
    this.cursors = deps.cursors ?? new CursorSeal();
  }

  /**
   * One page of hits in key order. Looks one permitted candidate past a full page, so `after`
   * is set only when another hit really exists (or a budget ran out: candidates or time). It
   * lets the event loop turn as it goes (see pacer), so other requests are served meanwhile,
   * and stops at such a turn once given up or out of budget, a look-ahead's included;
   * every candidate of the page is decided against the policy set in force when it starts.
   *
   * Once the page is made it records the decisions it answers for: every candidate up to where
   * the next page resumes (hits and denies alike). The look-ahead, and candidates denied
   * between the last hit and it, belong to the next page, which decides them again.
   */
  async search(query: SearchQuery, page: SearchPage): Promise<SearchResult> {
    const hits: SearchHit[] = [];
    const decided: DecisionRecord[] = [];
    /** How many of `decided` lie up to the last hit. */
    let upToLastHit = 0;
    let lastHit: string | undefined;
    let lastSeen: string | undefined;
    let evaluated = 0;
    const decisions = this.#decisions.pinned();
    const pause = pacer();
    const endBy = (page.startedAt ?? performance.now()) + this.#budgetMs;
    const givenUp = () => page.meta?.abandoned === true;
    const outOfTime = () => performance.now() >= endBy;
    // The budgets are checked only once a candidate was evaluated, so every page moves the search on.
    const ends = () => givenUp() || (evaluated > 0 && (evaluated === this.#maxCandidates || outOfTime()));
    const candidates = this.#candidatesFor(query, page.after, page.meta);
    for await (const chunk of this.#chunks(candidates, Math.min(page.limit + 1, maxLookAhead, this.#maxCandidates))) {
      let ahead: LookAhead | undefined;
      try {
        for (const candidate of chunk) {
          await pause();
          if (ends()) return this.#recorded(decisions, decided, { hits, after: lastSeen });
          if (ahead === undefined) {
            // Stopped early (given up, out of time), it ends the page before the chunk's first
            // candidate, as a pause between two evaluations would; a page that has evaluated none
            // still decides its first, on its own.
            ahead = await decisions.lookAhead(chunk.map((c) => c.request), pause, () => givenUp() || outOfTime());
            if (ends()) return this.#recorded(decisions, decided, { hits, after: lastSeen });
          }
          evaluated += 1;
          const { outcome, record } = await decisions.decideUnrecorded(candidate.request, undefined, ahead);
          if (outcome.decision === 'permit') {
            if (hits.length === page.limit) return this.#recorded(decisions, decided.slice(0, upToLastHit), { hits, after: lastHit });
            hits.push(candidate.hit);
            lastHit = candidate.key;
            upToLastHit = decided.length + 1;
          }
          decided.push(record);
          lastSeen = candidate.key;
        }
      } finally {
        // Entries found for candidates the page did not decide are counted as found.
        ahead?.found?.release();
      }
    }
    return this.#recorded(decisions, decided, { hits, after: undefined });
  }

  /**
   * `candidates` in chunks to look up together: the first of `first` (a full page and the one
   * past it), each next twice the last, up to maxLookAhead, and never past the candidates a page
   * may evaluate. A page whose candidates are mostly denied so takes a few round trips, not one
   * per candidate, and one that stops early has looked up little it does not use.
   */
  async *#chunks(candidates: AsyncIterable<Candidate>, first: number): AsyncIterable<Candidate[]> {
    let size = first;
    let taken = 0;
    let chunk: Candidate[] = [];
    for await (const candidate of candidates) {
      chunk.push(candidate);
      if (chunk.length < size) continue;
      yield chunk;
      taken += chunk.length;
      chunk = [];
      size = Math.max(1, Math.min(size * 2, maxLookAhead, this.#maxCandidates - taken));
    }
    if (chunk.length > 0) yield chunk;
  }

  /** Records `decided`, the decisions `page` answers for, as it is about to be answered. */
  #recorded(decisions: PinnedDecisions, decided: readonly DecisionRecord[], page: SearchResult): SearchResult {
    for (const record of decided) decisions.record(record);
    return page;
  }

  async *#candidatesFor(query: SearchQuery, after: string | undefined, meta: DecisionMeta | undefined): AsyncIterable<Candidate> {
    switch (query.kind) {
      case 'subject':
        for await (const ref of this.#candidates.entities(query.subjectType, after)) {
          yield {
            key: ref.id,
            hit: { type: ref.type, id: ref.id },
            request: { subject: { claims: empty, type: ref.type, id: ref.id }, action: query.action, resource: query.resource, context: query.context, meta },
          };
        }
        return;
      case 'resource':
        for await (const ref of this.#candidates.entities(query.resourceType, after)) {
          yield {
            key: ref.id,
            hit: { type: ref.type, id: ref.id },
            request: { subject: query.subject, action: query.action, resource: { type: ref.type, id: ref.id, properties: empty }, context: query.context, meta },
          };
        }
        return;
      case 'action':
        for await (const name of this.#candidates.actions(query.resource.type, after)) {
          yield {
            key: name,
            hit: { name },
            request: { subject: query.subject, action: { name, properties: empty }, resource: query.resource, context: query.context, meta },
          };
        }
        return;
    }
  }
}
