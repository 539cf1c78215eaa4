import { createHash } from 'node:crypto';
import { canonicalJsonParts } from '../canonical-json.js';
import { byCodeUnits } from '../code-unit-order.js';
import { pacer } from '../pace.js';
import { compileCondition, ConditionCompileError, type CompiledCondition } from './cel.js';
import type { Candidates, CompiledPolicySet, CompiledRule, ResourceRules } from './compiled.js';
import { neverSeenName } from './cel-request-names.js';
import { costlyDecisions } from './decision-cost.js';
import { FoldedNames } from './fold-case.js';
import { sortedInSlices } from './sorted-names.js';
import { noEntities, type EntityIndex } from './entities.js';
import type { PolicySource } from './schema.js';
import { maxIssuesPerFile, PolicyLoadError, pushFileIssues, type PolicyIssue, type RuleLocation } from './errors.js';

/** A validated policy and the file it came from. */
export interface PolicyFile {
  readonly file: string;
  readonly policy: PolicySource;
}

/** Where a rule id was first given among the policies of a resource type. */
interface RuleOwner {
  readonly policy: string;
  readonly file: string;
  /** The JSON path of its `id`: `$.rules[0].id`. */
  readonly path: string;
}

/** The compiled condition, or why it does not compile. */
function compiledOrError(source: string): CompiledCondition | ConditionCompileError {
  try {
    return compileCondition(source);
  } catch (error) {
    if (!(error instanceof ConditionCompileError)) throw error;
    return error;
  }
}

/** The policies of a set in the order its version and its `policies` list them: by id, the same on every machine. */
function byId(files: readonly PolicyFile[]): PolicySource[] {
  return files.map((f) => f.policy).sort((a, b) => byCodeUnits(a.id, b.id));
}

/**
 * Levels of `{ extra, policies }` the version's text is written a member at a time, down to each
 * rule and each entity: a policy of 13 MB put in key order, written and hashed whole held the
 * event loop for 300-480 ms.
 */
const versionDepth = 4;

/** Characters of the version's text hashed at once: hashing each rule's part alone took twice as long. */
const versionChunk = 65_536;

/**
 * Compiling `files` into a set, a step at a time: it yields after each rule it builds (compiling
 * its condition when the text is new: rules repeating one share it), each rule whose index
 * entries are counted, each resource type whose decisions are costed, each chunk of the
 * version's text hashed (see `versionDepth`) and each rule indexed. Yielding only after a new
 * condition text held the event loop 260-380 ms for 200,000 rules sharing one.
 * Checks what a schema cannot see: duplicate policy ids, rule ids repeated for one resource
 * type, every CEL condition, the size of the rule index and the cost of the conditions one
 * decision can evaluate; reports every problem at once, the first `maxIssuesPerFile` of a file.
 */
function* compiling(files: readonly PolicyFile[], extraVersionInput: unknown, entities: EntityIndex): Generator<void, CompiledPolicySet, void> {
  const issues: PolicyIssue[] = [];
  const policyIds = new Map<string, string>();
  const rulesByResource = new Map<string, CompiledRule[]>();
  /**
   * Resource type → rule id → the policy that has it. Unique per resource type, not per policy:
   * fixtures (`expect.rules`) and audit lines (`rules`) name rules by id alone, so a second
   * policy's rule of the same id would pass for the first's.
   */
  const ruleOwners = new Map<string, Map<string, RuleOwner>>();
  const conditions = new Map<string, CompiledCondition | ConditionCompileError>();
  const locations = new Map<CompiledRule, RuleLocation>();

  for (const { file, policy } of files) {
    const seenIn = policyIds.get(policy.id);
    if (seenIn !== undefined) {
      issues.push({ file, path: '$.id', message: `duplicate policy id "${policy.id}" (also in ${seenIn})` });
      continue;
    }
    policyIds.set(policy.id, file);
    const rules = rulesByResource.get(policy.resource) ?? [];
    rulesByResource.set(policy.resource, rules);
    const owners = ruleOwners.get(policy.resource) ?? new Map<string, RuleOwner>();
    ruleOwners.set(policy.resource, owners);
    // The file's problems, up to one past the `maxIssuesPerFile` listed: its later rules are not
    // looked at, so a file of thousands of bad rules costs no more and crowds out no other file's.
    const found: PolicyIssue[] = [];
    for (const [index, rule] of policy.rules.entries()) {
      if (found.length > maxIssuesPerFile) break;
      yield;
      const path = `$.rules[${index}]`;
      const owner = owners.get(rule.id);
      if (owner !== undefined) {
        const where = owner.policy === policy.id ? ` (also at ${owner.path})` : ` (also at ${owner.file} ${owner.path}, in policy "${owner.policy}" for resource type "${policy.resource}": rule ids are unique per resource type)`;
        found.push({ file, path: `${path}.id`, rule: rule.id, message: `duplicate rule id "${rule.id}"${where}` });
        continue;
      }
      owners.set(rule.id, { policy: policy.id, file, path: `${path}.id` });
      let condition: CompiledCondition | ConditionCompileError | undefined;
      if (rule.condition !== undefined) {
        condition = conditions.get(rule.condition);
        if (condition === undefined) {
          condition = compiledOrError(rule.condition);
          conditions.set(rule.condition, condition);
        }
      }
      if (condition instanceof ConditionCompileError) {
        found.push({ file, path: `${path}.condition`, rule: rule.id, message: condition.message });
        continue;
      }
      const never = condition === undefined ? undefined : neverSeenName(condition.namesCompared, { resourceType: policy.resource, actions: rule.actions });
      if (never !== undefined) {
        found.push({ file, path: `${path}.condition`, rule: rule.id, message: never });
        continue;
      }
      const compiled: CompiledRule = {
        policy: policy.id,
        id: rule.id,
        effect: rule.effect,
        actions: rule.actions,
        roles: rule.roles === undefined ? undefined : new Set(rule.roles),
        scopes: rule.scopes,
        condition,
        conditionSource: rule.condition,
        advice: rule.advice,
      };
      rules.push(compiled);
      locations.set(compiled, { file, path, type: policy.resource });
    }
    pushFileIssues(issues, file, found);
  }
  if (issues.length === 0) {
    const oversized = yield* oversizedIndex(rulesByResource, locations);
    if (oversized === undefined) issues.push(...(yield* costlyDecisions(locations)));
    else issues.push(oversized);
  }
  if (issues.length > 0) throw new PolicyLoadError(issues);

  const policies = byId(files);
  const hash = createHash('sha256');
  let pending = '';
  for (const part of canonicalJsonParts({ extra: extraVersionInput, policies }, versionDepth)) {
    pending += part;
    if (pending.length < versionChunk) continue;
    hash.update(pending);
    pending = '';
    yield;
  }
  const version = hash.update(pending).digest('hex').slice(0, 16);
  const byResource = new Map<string, ResourceRules>();
  let ruleCount = 0;
  for (const [type, rules] of rulesByResource) {
    byResource.set(type, yield* indexing(rules));
    ruleCount += rules.length;
  }
  return { version, policies, byResource, ruleCount, entities };
}

/**
 * Compiles validated policies into an indexed set, at once (see `compiling`), or throws a
 * PolicyLoadError with every problem. `extraVersionInput` folds other loaded sources (such as
 * entity data) into the version; `entities` travel in the set, so a reload swaps policies and
 * entity data together.
 */
export function compilePolicies(files: readonly PolicyFile[], extraVersionInput: unknown = null, entities: EntityIndex = noEntities): CompiledPolicySet {
  const steps = compiling(files, extraVersionInput, entities);
  let step = steps.next();
  while (step.done !== true) step = steps.next();
  return step.value;
}

/**
 * `compilePolicies`, letting the event loop turn every few milliseconds: a reload compiles
 * while the service answers requests on the policies in force, and 10,000 rules take a
 * quarter of a second (~25 µs a condition), of which writing the version's text held the loop
 * for 10-50 ms in one piece.
 */
export async function compilePoliciesPaced(files: readonly PolicyFile[], extraVersionInput: unknown = null, entities: EntityIndex = noEntities): Promise<CompiledPolicySet> {
  const pace = pacer();
  const steps = compiling(files, extraVersionInput, entities);
  let step = steps.next();
  while (step.done !== true) {
    await pace();
    step = steps.next();
  }
  return step.value;
}

const readsNow = (rule: CompiledRule): boolean => rule.condition?.readsNow === true;

/**
 * Deny rules first, then by policy id, each policy's rules in their order: the order of the
 * version (see `byId`), not of file names. Files read by name put `b.json`'s rules after
 * `a.json`'s, so renaming a file reordered reasons and advice under the same version, which
 * a reload then kept serving as unchanged while `pdp check` and the test cases saw the new order.
 */
const denyFirst = (a: CompiledRule, b: CompiledRule): number =>
  a.effect === b.effect ? byCodeUnits(a.policy, b.policy) : a.effect === 'deny' ? -1 : 1;

/**
 * The shortest candidate list given a role index. On shorter lists, such as the shipped
 * policies' 3 to 5 rules an action, gathering the subject's roles' rules from an index cost
 * more than reading every rule (a decision took 0.60 µs instead of 0.42).
 */
export const roleIndexFrom = 8;

/**
 * The list, with a role index when it is long and its rules name roles; yields after each rule
 * indexed (1,000 roles at most). In one piece, a list of 1,000 rules naming 999 roles each, as
 * many role entries as the rule index may hold, held the event loop 300-420 ms.
 */
function* candidates(rules: readonly CompiledRule[]): Generator<void, Candidates, void> {
  if (rules.length < roleIndexFrom || rules.every((rule) => rule.roles === undefined)) return { rules, byRole: undefined };
  const open: number[] = [];
  const named = new Map<string, number[]>();
  for (const [position, rule] of rules.entries()) {
    if (rule.roles === undefined) open.push(position);
    for (const role of rule.roles ?? []) {
      const positions = named.get(role);
      if (positions === undefined) named.set(role, [position]);
      else positions.push(position);
    }
    yield;
  }
  return { rules, byRole: { open, named } };
}

/**
 * Rules by the action they name, deny rules first, each list holding the `*` rules too, in
 * the same order; yields after each action a rule is listed under and each rule indexed by
 * role, and after each action named, given its list, folded and put in order. One pass over the
 * rules: filtering them once per action named took 4.8 s for 20,000 rules with an action each,
 * blocking the service while a reload compiled; and the million action names the rule index may
 * hold, listed, given their lists, folded (an accented name ~1.6 µs) and sorted in one piece,
 * held it 0.3-1.6 s each, as did a `*` rule listed under half a million of them (270 ms).
 */
function* indexing(rules: readonly CompiledRule[]): Generator<void, ResourceRules, void> {
  const ordered = [...rules].sort(denyFirst);
  const anyAction = ordered.filter((r) => r.actions.includes('*'));
  const named = yield* namedActions(ordered);
  const forAction = new Map<string, CompiledRule[]>();
  for (const action of named) {
    forAction.set(action, []);
    yield;
  }
  const nowActions = new Set<string>();
  for (const rule of ordered) {
    const targets = rule.actions.includes('*') ? named : new Set(rule.actions);
    for (const action of targets) {
      forAction.get(action)?.push(rule);
      if (readsNow(rule)) nowActions.add(action);
      yield;
    }
  }
  const byAction = new Map<string, Candidates>();
  for (const [action, list] of forAction) {
    byAction.set(action, yield* candidates(list));
    yield;
  }
  const actionsByFoldedCase = new FoldedNames<string>();
  // Two actions that fold alike are refused at load (load.ts): each folded form holds one.
  for (const action of named) {
    actionsByFoldedCase.holding(action, () => action);
    yield;
  }
  const sortedActions = yield* sortedInSlices([...named]);
  return { byAction, sortedActions, anyAction: yield* candidates(anyAction), actionsByFoldedCase, all: ordered, nowActions, anyActionReadsNow: anyAction.some(readsNow) };
}

/** The actions `rules` name, `*` aside, in the order they name them; yields after each rule. */
function* namedActions(rules: readonly CompiledRule[]): Generator<void, Set<string>, void> {
  const named = new Set<string>();
  for (const rule of rules) {
    for (const action of rule.actions) if (action !== '*') named.add(action);
    yield;
  }
  return named;
}

/**
 * Most entries the rule index of a set may hold: a rule is listed under each action it names,
 * a `*` rule under every action its resource type's rules name (and once for the others), and
 * a long list also lists each rule under each of its roles. Small files could otherwise make a
 * quadratic index: 20,000 `*` rules beside 20,000 action names (1.1 MB) ran a reload out of
 * memory, and 10,000 of each held the service for 18 s.
 */
const maxIndexEntries = 1_000_000;

/**
 * The problem with a set whose rule index would exceed `maxIndexEntries`, placed at the rule
 * that adds most to it; undefined within the bound. Counted before anything is built: an upper
 * bound (role entries are made only for long lists), at the cost of one pass over the rules;
 * yields after each rule, as the pass over 200,000 rules held the event loop for 50-80 ms.
 */
function* oversizedIndex(rulesByResource: ReadonlyMap<string, readonly CompiledRule[]>, locations: ReadonlyMap<CompiledRule, RuleLocation>): Generator<void, PolicyIssue | undefined, void> {
  const named = new Map<string, number>();
  for (const [type, rules] of rulesByResource) {
    named.set(type, (yield* namedActions(rules)).size);
  }
  let total = 0;
  let heaviest: { rule: CompiledRule; where: RuleLocation; entries: number; actions: number } | undefined;
  for (const [rule, where] of locations) {
    yield;
    const actions = rule.actions.includes('*') ? (named.get(where.type) ?? 0) + 1 : new Set(rule.actions).size;
    const entries = actions * (1 + (rule.roles?.size ?? 0));
    total += entries;
    if (heaviest === undefined || entries > heaviest.entries) heaviest = { rule, where, entries, actions };
  }
  if (total <= maxIndexEntries || heaviest === undefined) return undefined;
  const { rule, where, entries, actions } = heaviest;
  return {
    file: where.file,
    path: `${where.path}.actions`,
    rule: rule.id,
    message: `the rule index of this policy set would hold ${total} entries, over the ${maxIndexEntries} it may: a rule is listed under each action it names ("*": every action its resource type's rules name), and once more for each role it names; this rule, of resource type "${where.type}", makes ${entries} of them (${actions} actions × ${1 + (rule.roles?.size ?? 0)})`,
  };
}
