import type { Advice, Query, Reason, Verdict } from '../decision/types.js';
import { jsonLimits } from '../json-limits.js';
import type { ConditionVariables } from './cel.js';
import { startDecision } from './cel-strict.js';
import { celTypeName } from './cel-type-name.js';
import type { Candidates, CompiledPolicySet, CompiledRule, ResourceRules } from './compiled.js';

/**
 * How one rule fared, for explain output. `roles` and `scopes` are null when the rule does
 * not name any; `condition` is null when the rule has none, and carries neither `value` nor
 * `error` when it was not evaluated because the action, roles or scopes did not match.
 */
export interface RuleTrace {
  readonly policy: string;
  readonly rule: string;
  readonly effect: 'permit' | 'deny';
  readonly applied: boolean;
  readonly action: boolean;
  readonly roles: boolean | null;
  readonly scopes: boolean | null;
  readonly condition: { readonly expression: string; readonly value?: boolean; readonly error?: string } | null;
}

/** A condition that could not be evaluated to a bool, and why. */
interface ConditionFailure {
  readonly error: string;
}

/** The condition's value (true without one), or why it has none: nothing allocated on the usual path. */
function runCondition(rule: CompiledRule, vars: ConditionVariables): boolean | ConditionFailure {
  if (rule.condition === undefined) return true;
  try {
    const value = rule.condition(vars);
    if (typeof value !== 'boolean') return { error: `condition returned ${celTypeName(value)}, not a bool` };
    return value;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { error: message.split('\n')[0] ?? message };
  }
}

function traced(expression: string, outcome: boolean | ConditionFailure | undefined): NonNullable<RuleTrace['condition']> {
  if (outcome === undefined) return { expression };
  return typeof outcome === 'boolean' ? { expression, value: outcome } : { expression, error: outcome.error };
}

/**
 * Whether the subject holds one of the rule's roles. `held`, the subject's roles as a set when
 * it has many, lets the rule's own roles be looked up instead when they are fewer: the cost per
 * rule is then the smaller of the two counts, so a subject with a thousand roles reading a long
 * list costs what the policies' own role lists do, not a thousand lookups a rule.
 */
function holdsRole(rule: CompiledRule, roles: readonly string[], held: ReadonlySet<string> | undefined): boolean {
  if (rule.roles === undefined) return true;
  if (held !== undefined && rule.roles.size < roles.length) {
    for (const role of rule.roles) if (held.has(role)) return true;
    return false;
  }
  for (const role of roles) if (rule.roles.has(role)) return true;
  return false;
}

/**
 * From how many roles or scopes a subject's are looked up in a set (see `holdsRole`): a rule
 * naming a scope then costs one lookup, not a scan of a thousand scopes.
 */
const heldAsSetFrom = 16;

/** Whether the subject holds every scope of the rule; `granted`, its scopes as a set when it has many. */
function holdsScopes(rule: CompiledRule, scopes: readonly string[], granted: ReadonlySet<string> | undefined): boolean {
  if (rule.scopes === undefined) return true;
  for (const scope of rule.scopes) if (!(granted === undefined ? scopes.includes(scope) : granted.has(scope))) return false;
  return true;
}

/**
 * The candidates the subject's roles can match, in their order, read through the list's role
 * index; undefined when the list has none, or when the subject's roles name more rules than
 * the list holds (a rule naming many roles the subject holds is listed under each): reading
 * the list whole then costs less (see `holdsRole`), and gathering stays linear in its length.
 */
function forRoles(candidates: Candidates, roles: readonly string[]): readonly CompiledRule[] | undefined {
  const index = candidates.byRole;
  if (index === undefined) return undefined;
  const most = candidates.rules.length;
  let lists: (readonly number[])[] | undefined;
  let count = index.open.length;
  for (const role of roles) {
    const named = index.named.get(role);
    if (named === undefined) continue;
    count += named.length;
    if (count > most) return undefined;
    (lists ??= []).push(named);
  }
  if (lists === undefined) return index.open.map((position) => candidates.rules[position] as CompiledRule);
  // Back into the candidates' order, each rule once.
  const positions = index.open.concat(...lists).sort((a, b) => a - b);
  const picked: CompiledRule[] = [];
  let last = -1;
  for (const position of positions) {
    if (position !== last) picked.push(candidates.rules[position] as CompiledRule);
    last = position;
  }
  return picked;
}

/**
 * What in the query is larger than conditions are costed for. Each condition's cost is bounded
 * at load on request data within the JSON limits (cel-cost.ts): at most `maxCollection`
 * elements in any list or map. Roles and scopes split from claim strings (a 16K-character
 * `scope` names thousands), or gathered from several claims, can number more, and entity data
 * merged into a request's properties can double their members; a condition scanning one such
 * list for each element of another would take many times its bound.
 */
function beyondConditionBounds(query: Query): string | undefined {
  const most = jsonLimits.maxCollection;
  const { subject, resource } = query;
  const subjectMembers = Object.keys(subject.properties).length;
  const resourceMembers = Object.keys(resource.properties).length;
  const what = subject.roles.length > most ? `the subject has ${subject.roles.length} roles`
    : subject.scopes.length > most ? `the subject has ${subject.scopes.length} scopes`
    : subjectMembers > most ? `the subject has ${subjectMembers} properties`
    : resourceMembers > most ? `the resource has ${resourceMembers} properties`
    : undefined;
  return what === undefined ? undefined : `${what}; conditions are bounded for at most ${most} elements of a list or members of a map`;
}

/**
 * The trace of a query denied before any rule was read (an action or entity named in another case, a
 * query beyond the condition bounds): every rule of the type, with its action, role and scope
 * checks, none applied, no condition evaluated.
 */
function traceUntried(rules: ResourceRules, query: Query, trace: RuleTrace[]): void {
  const { roles, scopes } = query.subject;
  const held = roles.length >= heldAsSetFrom ? new Set(roles) : undefined;
  const granted = scopes.length >= heldAsSetFrom ? new Set(scopes) : undefined;
  for (const rule of rules.all) {
    const action = rule.actions.includes('*') || rule.actions.includes(query.action.name);
    trace.push(ruleTrace(rule, false, action, holdsRole(rule, roles, held), holdsScopes(rule, scopes, granted), undefined));
  }
}

/** How `rule` fared: its checks, whether it applied, and its condition's value or error if it ran. */
function ruleTrace(rule: CompiledRule, applied: boolean, action: boolean, roles: boolean, scopes: boolean, outcome: boolean | ConditionFailure | undefined): RuleTrace {
  return {
    policy: rule.policy,
    rule: rule.id,
    effect: rule.effect,
    applied,
    action,
    roles: rule.roles === undefined ? null : roles,
    scopes: rule.scopes === undefined ? null : scopes,
    condition: rule.conditionSource === undefined ? null : traced(rule.conditionSource, outcome),
  };
}

/**
 * Whether deciding `query` may read `now`: a rule among its candidates does. Such a decision
 * can change with time alone, so it is never cached. Flags found at load: a lookup, no walk.
 */
export function decisionReadsNow(set: CompiledPolicySet, query: Query): boolean {
  const rules = set.byResource.get(query.resource.type);
  if (rules === undefined) return false;
  const action = query.action.name;
  return rules.byAction.has(action) ? rules.nowActions.has(action) : rules.anyActionReadsNow;
}

/**
 * Decides one query against a compiled set. Pure: no I/O, time passed in.
 * Default deny; any applicable deny beats every permit. A condition that fails at run time
 * makes a permit rule not apply and a deny rule apply (fail closed), and is named in the reasons.
 * With `trace`, every rule of the resource type is evaluated and recorded.
 */
export function evaluate(set: CompiledPolicySet, query: Query, now: Date, trace?: RuleTrace[]): Verdict {
  const rules = set.byResource.get(query.resource.type);
  if (rules === undefined) {
    return {
      decision: 'deny',
      reasons: [{ code: 'unknown_resource_type', detail: `no policy for resource type "${query.resource.type}"` }],
      advice: [],
    };
  }
  // Action names are case-sensitive, and a "*" rule covers any action: `Approve` would skip
  // every rule naming `approve`, its deny rules among them, and be decided by "*" rules alone.
  // Where the policies name the action in another case, the request most likely meant it.
  const name = query.action.name;
  const forAction = rules.byAction.get(name);
  if (forAction === undefined) {
    const named = rules.actionsByFoldedCase.get(name);
    if (named !== undefined) {
      if (trace !== undefined) traceUntried(rules, query, trace);
      return {
        decision: 'deny',
        reasons: [{ code: 'action_case_mismatch', detail: `the policies for "${query.resource.type}" name the action "${named}", not "${name}": action names are case-sensitive` }],
        advice: [],
      };
    }
  }
  if (query.misnamed !== undefined) {
    if (trace !== undefined) traceUntried(rules, query, trace);
    return { decision: 'deny', reasons: [{ code: 'entity_case_mismatch', detail: query.misnamed }], advice: [] };
  }
  const beyond = beyondConditionBounds(query);
  if (beyond !== undefined) {
    if (trace !== undefined) traceUntried(rules, query, trace);
    return { decision: 'deny', reasons: [{ code: 'limit_exceeded', detail: beyond }], advice: [] };
  }
  // Without a trace only the action's candidates are read, each naming the action or "*", and
  // with a role index only those the subject's roles match: their checks are known to pass.
  const forQuery = forAction ?? rules.anyAction;
  const forSubject = trace === undefined ? forRoles(forQuery, query.subject.roles) : undefined;
  const candidates = trace === undefined ? forSubject ?? forQuery.rules : rules.all;
  const actionKnown = trace === undefined;
  const rolesKnown = forSubject !== undefined;
  const held = !rolesKnown && query.subject.roles.length >= heldAsSetFrom ? new Set(query.subject.roles) : undefined;
  const granted = query.subject.scopes.length >= heldAsSetFrom ? new Set(query.subject.scopes) : undefined;
  const vars: ConditionVariables = {
    subject: query.subject,
    resource: query.resource,
    action: query.action,
    context: query.context,
    now,
  };

  // Every condition below, each rule's and each retry's, compares lists and maps on one budget:
  // a decision is the unit, as it is evaluated in one piece, holding the event loop until done.
  // A batch or a search page lets the loop turn between its decisions, and bounds their number.
  startDecision();
  const denies: Reason[] = [];
  const permits: Reason[] = [];
  const errors: Reason[] = [];
  const denyAdvice: Advice[] = [];
  const permitAdvice: Advice[] = [];

  for (const rule of candidates) {
    // Once a deny applies no permit can change the answer: stop, or with a trace go on
    // recording without letting later rules add reasons, so explain answers match plain ones.
    const overridden = rule.effect === 'permit' && denies.length > 0;
    if (overridden && trace === undefined) break;
    const action = actionKnown || rule.actions.includes('*') || rule.actions.includes(query.action.name);
    const roles = rolesKnown || holdsRole(rule, query.subject.roles, held);
    const scopes = (roles || trace !== undefined) && holdsScopes(rule, query.subject.scopes, granted);
    const outcome = action && roles && scopes ? runCondition(rule, vars) : undefined;
    let applied = false;
    if (typeof outcome === 'boolean') {
      applied = outcome;
    } else if (outcome !== undefined) {
      applied = rule.effect === 'deny';
      if (!overridden) errors.push({ code: 'condition_error', detail: outcome.error, policy: rule.policy, rule: rule.id });
    }
    if (applied && !overridden) {
      (rule.effect === 'deny' ? denies : permits).push({ policy: rule.policy, rule: rule.id, effect: rule.effect });
      if (rule.advice !== undefined) {
        (rule.effect === 'deny' ? denyAdvice : permitAdvice).push({ policy: rule.policy, rule: rule.id, advice: rule.advice });
      }
    }
    trace?.push(ruleTrace(rule, applied, action, roles, scopes, outcome));
  }

  // Condition errors, rare, follow the deciding rules.
  if (denies.length > 0) return { decision: 'deny', reasons: errors.length === 0 ? denies : [...denies, ...errors], advice: denyAdvice };
  if (permits.length > 0) return { decision: 'permit', reasons: errors.length === 0 ? permits : [...permits, ...errors], advice: permitAdvice };
  const none: Reason = { code: 'no_applicable_rule', detail: `no rule permits "${query.action.name}" on "${query.resource.type}"` };
  return { decision: 'deny', reasons: [none, ...errors], advice: [] };
}
