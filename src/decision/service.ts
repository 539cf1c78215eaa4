import { randomUUID } from 'node:crypto';
import { findLimitViolation } from '../json-limits.js';
import { evaluate, type RuleTrace } from '../policy/evaluate.js';
import { jsonPath } from '../policy/json-path.js';
import type { PolicyStore } from '../policy/store.js';
import { claimsToSubject, type Claims } from '../token/claims.js';
import { InvalidTokenError } from '../token/errors.js';
import type { TokenVerifier } from '../token/verify.js';
import type { Decision, Query, Subject, Verdict } from './types.js';

/** The subject as a caller may state it: a token to verify, or claims already verified. */
export type SubjectInput =
  | { readonly token: string }
  | { readonly claims: Claims; readonly type?: string; readonly id: string };

/** A decision request before the subject is resolved. */
export interface DecisionRequest {
  readonly subject: SubjectInput;
  readonly action: Query['action'];
  readonly resource: Query['resource'];
  readonly context: Query['context'];
  readonly explain?: boolean;
}

export interface DecisionOutcome extends Decision {
  readonly subject: Subject | undefined;
  readonly trace?: readonly RuleTrace[];
}

export interface DecisionServiceDeps {
  readonly policies: PolicyStore;
  readonly tokens: TokenVerifier | undefined;
  readonly clock?: () => Date;
  readonly newId?: () => string;
}

/** Resolves the subject, then evaluates; every failure on the way ends in deny. */
export class DecisionService {
  readonly #policies: PolicyStore;
  readonly #tokens: TokenVerifier | undefined;
  readonly #clock: () => Date;
  readonly #newId: () => string;

  constructor(deps: DecisionServiceDeps) {
    this.#policies = deps.policies;
    this.#tokens = deps.tokens;
    this.#clock = deps.clock ?? (() => new Date());
    this.#newId = deps.newId ?? randomUUID;
  }

  async decide(request: DecisionRequest): Promise<DecisionOutcome> {
    const { set } = this.#policies.current;
    const decisionId = this.#newId();
    let subject: Subject;
    try {
      subject = await this.#resolveSubject(request.subject);
    } catch (error) {
      if (!(error instanceof InvalidTokenError)) throw error;
      return {
        decision: 'deny',
        reasons: [{ code: 'invalid_token', detail: error.message }],
        advice: [],
        decisionId,
        policyVersion: set.version,
        subject: undefined,
      };
    }
    const query: Query = { subject, action: request.action, resource: request.resource, context: request.context };
    const trace: RuleTrace[] | undefined = request.explain === true ? [] : undefined;
    const verdict: Verdict = evaluate(set, query, this.#clock(), trace);
    return { ...verdict, decisionId, policyVersion: set.version, subject, ...(trace && { trace }) };
  }

  async #resolveSubject(input: SubjectInput): Promise<Subject> {
    if ('token' in input) {
      if (this.#tokens === undefined) throw new InvalidTokenError('no token verification is configured');
      const claims = await this.#tokens.verify(input.token);
      // Claims meet the same JSON limits as a request body: conditions are costed against them.
      const overLimit = findLimitViolation(claims);
      if (overLimit !== undefined) throw new InvalidTokenError(`claims beyond the limits: ${jsonPath(overLimit.path)} ${overLimit.message}`);
      return claimsToSubject(claims);
    }
    return claimsToSubject(input.claims, input.type, input.id);
  }
}
