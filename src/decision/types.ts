/** Who is asking: built from verified token claims or from trusted, pre-verified claims. */
export interface Subject {
  readonly type: string;
  readonly id: string;
  readonly roles: readonly string[];
  readonly scopes: readonly string[];
  /**
   * The other ids entity data gives the subject (`aliases`), empty for a subject it does not
   * know. A record a backend keeps may name its owner by any of them (the email a token's `sub`
   * held), while `id` is the entity's own: a rule comparing an owner with the subject reads both.
   */
  readonly aliases: readonly string[];
  /** Every claim, as given; policies read attributes such as `region` from here. */
  readonly properties: Readonly<Record<string, unknown>>;
}

export interface Resource {
  readonly type: string;
  readonly id?: string;
  readonly properties: Readonly<Record<string, unknown>>;
}

export interface Action {
  readonly name: string;
  readonly properties: Readonly<Record<string, unknown>>;
}

/** One authorization question, with the subject already resolved. */
export interface Query {
  readonly subject: Subject;
  readonly action: Action;
  readonly resource: Resource;
  readonly context: Readonly<Record<string, unknown>>;
  /**
   * Why the subject or resource is taken for no entity though it names one in another case or
   * spelling (see `withEntityData`); such a question is denied with `entity_case_mismatch`.
   */
  readonly misnamed?: string;
}

export type Effect = 'permit' | 'deny';

/** Why a decision came out as it did: a rule that applied, or a coded problem. */
export type Reason =
  | { readonly policy: string; readonly rule: string; readonly effect: Effect }
  | {
      readonly code: ReasonCode;
      readonly detail: string;
      readonly policy?: string;
      readonly rule?: string;
    };

export type ReasonCode = 'no_applicable_rule' | 'invalid_token' | 'condition_error' | 'unknown_resource_type' | 'action_case_mismatch' | 'entity_case_mismatch' | 'limit_exceeded' | 'invalid_request';

/** Obligations-free hints for the caller, e.g. `{ step_up: "mfa" }` from the rule that denied. */
export interface Advice {
  readonly policy: string;
  readonly rule: string;
  readonly advice: Readonly<Record<string, unknown>>;
}

/** What evaluation yields: pure data, no ids or timing. */
export interface Verdict {
  readonly decision: Effect;
  readonly reasons: readonly Reason[];
  readonly advice: readonly Advice[];
}

/** What every decision endpoint answers with. */
export interface Decision extends Verdict {
  readonly decisionId: string;
  readonly policyVersion: string;
}

/**
 * A decision's turn to evaluate among decisions made together (a batch): `run` calls `evaluate`
 * once it may and resolves with what it returned, or rejects, without calling it, when it no
 * longer should; the next turn is decided only once `evaluate` has returned, so the pause before
 * it counts this evaluation. `wanted` says whether its answer is still wanted (false once its
 * request was given up, or an earlier item decided its batch).
 */
export interface Turn {
  run<T>(evaluate: () => T): Promise<T>;
  wanted(): boolean;
}
