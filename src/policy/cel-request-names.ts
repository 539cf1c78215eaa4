import { comprehensionOf, isAstNode, writtenOf, type AstNode } from './cel-ast.js';
import { foldCase } from './fold-case.js';

/** The request's names a rule's place in its policy decides: the resource type and the action name. */
type NameField = 'resource.type' | 'action.name';

/**
 * A comparison of `resource.type` or `action.name` with string literals, by `==` or `!=` with one
 * (`action.name == "write"`), or `in` a list literal of them alone (`action.name in ["write"]`).
 */
export interface NameComparison {
  /** The comparison, a node of the condition written as `source`: its text is found only for a rule it fails. */
  readonly node: AstNode;
  readonly source: string;
  readonly op: '==' | '!=' | 'in';
  readonly field: NameField;
  /** The literals' values, in the order written. */
  readonly names: readonly string[];
}

/** What the rule a condition belongs to is evaluated for: its policy's resource type, its actions. */
export interface RuleScope {
  readonly resourceType: string;
  readonly actions: readonly string[];
}

const fields: ReadonlyMap<string, readonly [string, NameField]> = new Map([
  ['resource', ['type', 'resource.type']],
  ['action', ['name', 'action.name']],
]);

/** The field `node` reads when it is `resource.type` or `action.name` (`resource["type"]` too) of the variable, not of a comprehension's. */
function nameField(node: unknown, bound: ReadonlySet<string>): NameField | undefined {
  if (!isAstNode(node) || (node.op !== '.' && node.op !== '[]') || !Array.isArray(node.args)) return undefined;
  const [target, key] = node.args as [unknown, unknown];
  if (!isAstNode(target) || target.op !== 'id' || typeof target.args !== 'string' || bound.has(target.args)) return undefined;
  const field = fields.get(target.args);
  const name = node.op === '.' ? key : isAstNode(key) && key.op === 'value' ? key.args : undefined;
  return field !== undefined && name === field[0] ? field[1] : undefined;
}

function stringLiteral(node: unknown): string | undefined {
  return isAstNode(node) && node.op === 'value' && typeof node.args === 'string' ? node.args : undefined;
}

/** The comparison `at` makes, when it is one (see `NameComparison`), given the comprehension variables around it. */
function comparisonAt(at: AstNode, bound: ReadonlySet<string>): Omit<NameComparison, 'node' | 'source'> | undefined {
  if (!Array.isArray(at.args) || at.args.length !== 2) return undefined;
  const [left, right] = at.args as [unknown, unknown];
  if (at.op === '==' || at.op === '!=') {
    const onLeft = nameField(left, bound);
    const field = onLeft ?? nameField(right, bound);
    const name = stringLiteral(onLeft === undefined ? left : right);
    return field === undefined || name === undefined ? undefined : { op: at.op, field, names: [name] };
  }
  if (at.op !== 'in' || !isAstNode(right) || right.op !== 'list' || !Array.isArray(right.args) || right.args.length === 0) return undefined;
  const field = nameField(left, bound);
  const names = (right.args as unknown[]).map(stringLiteral);
  return field === undefined || names.includes(undefined) ? undefined : { op: 'in', field, names: names as string[] };
}

/** Every comparison in `node` (a node, or an array holding nodes), `bound` naming the comprehension variables around it. */
function collect(node: unknown, bound: ReadonlySet<string>, source: string, found: NameComparison[]): void {
  if (Array.isArray(node)) {
    for (const item of node) collect(item, bound, source, found);
    return;
  }
  if (!isAstNode(node)) return;
  const comprehension = comprehensionOf(node);
  if (comprehension !== undefined) {
    collect(comprehension.range, bound, source, found);
    collect(comprehension.steps, new Set(bound).add(comprehension.variable), source, found);
    return;
  }
  const comparison = comparisonAt(node, bound);
  if (comparison !== undefined) found.push({ ...comparison, node, source });
  collect(node.args, bound, source, found);
}

/**
 * The comparisons in `ast`, a condition written as `source`, of the request's resource type or
 * action name with string literals (see `NameComparison`), in a comprehension too unless its
 * variable is named `resource` or `action`. Found once for a condition's text, which rules of
 * other resource types and actions may share: `neverSeenName` judges them for each rule. They
 * hold the condition's own nodes, which its evaluation holds anyway, and which binding it
 * (cel.ts) renames nothing in: they hold no call.
 */
export function nameComparisons(ast: unknown, source: string): readonly NameComparison[] {
  const found: NameComparison[] = [];
  collect(ast, new Set(), source, found);
  return found;
}

/** `names` quoted, each once, the last joined by `last`. */
function quoted(names: readonly string[], last: 'and' | 'or' = 'and'): string {
  const each = [...new Set(names)].map((name) => JSON.stringify(name));
  return each.length === 1 ? (each[0] as string) : `${each.slice(0, -1).join(', ')} ${last} ${each.at(-1) ?? ''}`;
}

/**
 * Why a condition of a rule evaluated for `scope` fails the load, as it compares the resource
 * type or the action name with names alone that no request it is evaluated for has (see
 * `nameComparisons`); undefined when none does. A rule's conditions see requests for its
 * policy's resource type alone, and, unless it lists `"*"`, for its actions alone, each as
 * written: a request naming another decides on that type's, or that action's, rules, and one
 * naming either in another case is denied unevaluated (`unknown_resource_type`,
 * `action_case_mismatch`). Such a comparison is false on every request (`!=` true), so a deny
 * rule on `action.name == "write"` in a rule for `read` never applied.
 */
export function neverSeenName(comparisons: readonly NameComparison[], scope: RuleScope): string | undefined {
  const anyAction = scope.actions.includes('*');
  for (const { node, source, op, field, names } of comparisons) {
    if (field === 'action.name' && anyAction) continue;
    const seen = field === 'resource.type' ? [scope.resourceType] : scope.actions;
    const written = names.some((name) => seen.includes(name)) ? undefined : writtenOf(node, source);
    if (written === undefined) continue;
    const outcome = `value: ${written} is ${op === '!=' ? 'true' : 'false'} on every request`;
    const what = field === 'resource.type'
      ? `this rule is evaluated for resource type ${quoted(seen)} alone, its policy's`
      : `this rule is evaluated for the ${seen.length === 1 ? 'action' : 'actions'} ${quoted(seen)} alone, its actions`;
    const folded = new Map(seen.map((name) => [foldCase(name), name]));
    const meant = names.map((name) => folded.get(foldCase(name))).find((name) => name !== undefined);
    if (meant !== undefined) return `${outcome}: ${what}, and ${field === 'resource.type' ? 'resource types' : 'action names'} are case-sensitive: write ${JSON.stringify(meant)}`;
    const instead = field === 'resource.type' ? `put the rule in a policy for ${quoted(names, 'or')}` : `add ${quoted(names, 'or')} to its actions`;
    return `${outcome}: ${what}: ${instead}, or leave the comparison out`;
  }
  return undefined;
}
