import type { Effect } from '../decision/types.js';
import type { CompiledCondition } from './cel.js';
import type { EntityIndex } from './entities.js';
import type { FoldedNames } from './fold-case.js';
import type { PolicySource } from './schema.js';

/** A rule ready for evaluation: sets built and its condition compiled. */
export interface CompiledRule {
  readonly policy: string;
  readonly id: string;
  readonly effect: Effect;
  readonly actions: readonly string[];
  readonly roles: ReadonlySet<string> | undefined;
  readonly scopes: readonly string[] | undefined;
  readonly condition: CompiledCondition | undefined;
  readonly conditionSource: string | undefined;
  readonly advice: Readonly<Record<string, unknown>> | undefined;
}

/**
 * Where a long candidate list keeps each role's rules: a decision then reads only the rules
 * the subject's roles can match, not every rule of the action.
 */
export interface RoleIndex {
  /** Positions in the list of the rules naming no role, ascending: any subject may match them. */
  readonly open: readonly number[];
  /** Role → positions in the list of the rules naming it, ascending. */
  readonly named: ReadonlyMap<string, readonly number[]>;
}

/** The rules that may decide one action, denies first; `byRole` is set on long lists. */
export interface Candidates {
  readonly rules: readonly CompiledRule[];
  readonly byRole: RoleIndex | undefined;
}

/** The rules of one resource type, denies first, looked up by action. */
export interface ResourceRules {
  readonly byAction: ReadonlyMap<string, Candidates>;
  /** The action names of `byAction` in code-unit order, as action search goes through them. */
  readonly sortedActions: readonly string[];
  /** Rules listing "*": the whole candidate list for an action no rule names. */
  readonly anyAction: Candidates;
  /** The actions rules name, by `foldCase`: a request naming one in another case is refused. */
  readonly actionsByFoldedCase: FoldedNames<string>;
  readonly all: readonly CompiledRule[];
  /** Actions of `byAction` whose candidates include a rule reading `now`. */
  readonly nowActions: ReadonlySet<string>;
  /** Whether a rule of `anyAction` reads `now`. */
  readonly anyActionReadsNow: boolean;
}

/** An immutable, fully compiled policy set; swapped whole on reload. */
export interface CompiledPolicySet {
  /** Content hash of every loaded source. */
  readonly version: string;
  readonly policies: readonly PolicySource[];
  readonly byResource: ReadonlyMap<string, ResourceRules>;
  readonly ruleCount: number;
  /** Known subjects and resources from `POLICY_DIR/data`, part of the version. */
  readonly entities: EntityIndex;
}
