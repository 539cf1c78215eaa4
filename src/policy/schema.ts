import { z } from 'zod';
import { jsonLimits } from '../json-limits.js';
import { jsonObjectSchema } from '../json-object.js';
import { unknownKeys } from './unknown-keys.js';

const identifier = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, 'letters, digits, "_", ".", ":" and "-" only, starting with a letter or digit');

/**
 * Whitespace, control and invisible characters (a zero-width space, a direction mark, a Hangul
 * filler, a combining grapheme joiner: every default-ignorable code point), as a class body.
 */
const unseen = String.raw`\s\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}`;

/** None of `unseen`: a name that reads like another's but is not would never match what it was copied from. */
const visibleName = new RegExp(`^[^${unseen}]+$`, 'u');

/** At least one character that is not `unseen`. */
const seenCharacter = new RegExp(`[^${unseen}]`, 'u');

/** Whether `text` holds a character that is not whitespace, control or invisible (see `unseen`): one without names nothing that can be seen or typed. */
export function holdsSeenCharacter(text: string): boolean {
  return seenCharacter.test(text);
}

/**
 * A name of 1 to `max` characters, all of them `visibleName`'s; one holding others is refused
 * saying `why` that matters where the name is used.
 */
export function visibleNameSchema(why: string, max?: number): z.ZodString {
  const name = z.string().min(1);
  return (max === undefined ? name : name.max(max)).regex(visibleName, `no whitespace, control or invisible characters: ${why}`);
}

/**
 * A name of 1 to `max` characters, at least one of them not whitespace, control or invisible
 * (see `unseen`): one made only of those can be neither seen nor typed, and is refused saying
 * `why` that matters where the name is used. Others may sit among visible ones (`ACME Corp`).
 * An empty one is told once, as too small.
 */
export function seenNameSchema(why: string, max: number): z.ZodString {
  return z.string().min(1, { abort: true }).max(max).regex(seenCharacter, `not only whitespace, control or invisible characters: ${why}`);
}

/**
 * A role or scope name, in `visibleName`'s characters. Claims list them separated by whitespace
 * (`"scope": "a b"`), so a name holding whitespace could never be held: a deny rule naming it
 * would silently never apply.
 */
const claimName = visibleNameSchema('claims separate roles and scopes by spaces, and a name that only looks like a claim could never match');

/**
 * An action name in a rule, in the characters of a role or scope: a deny on `read\u200b` (a
 * zero-width space) or `read ` beside a permit on `read` reads as one on `read`, and never applied.
 */
const actionName = visibleNameSchema('an action name that only looks like another would never match the requests for it', 128);

/**
 * A request names one action. `*` means "any action" in a rule: asked as an action, it would
 * match only the rules listing `*`, so the deny rules of every real action would not apply.
 */
export const wildcardAction = '*';

/** Any name but `*`, as a pattern, so the editor schema says so too. */
export const notWildcard = /^(?!\*$)/;

/**
 * A role or scope a rule names. Unlike in `actions`, `*` is no wildcard there: a deny rule for
 * `"roles": ["*"]` (everyone, as its author meant) would apply to no subject but one holding a
 * role named `*`. Leaving the list out is how a rule matches every subject.
 */
const ruleClaimName = (kind: 'roles' | 'scopes') =>
  claimName.regex(notWildcard, `"*" is no wildcard here and would match only a claim named "*": leave out "${kind}" for a rule that applies whatever the subject holds`);

/**
 * The roles or scopes a rule names: 1 to 1,000. An empty list is refused as saying nothing an
 * author means (no role matches none; all of no scopes, every subject): the refusal says to
 * leave the list out, where zod's own words said only that it was too small.
 */
const ruleClaimList = (kind: 'roles' | 'scopes') =>
  z
    .array(ruleClaimName(kind))
    .min(1, `an empty list is refused: leave out "${kind}" for a rule that applies whatever the subject holds`)
    .max(1000);

/**
 * The resource type a policy governs, in `visibleName`'s characters: a policy of deny rules for
 * `invoice ` or `invoice\u200b` (a zero-width space) reads as one for `invoice`, and never applied.
 * Nor `*`: `"*"` means any action, but there is no wildcard resource type, so a policy of deny
 * rules for `*` (every type, as its author meant) applied to no request at all.
 */
const resourceType = visibleNameSchema('a resource type that only looks like another would never match the requests for it', 128)
  .regex(notWildcard, 'a resource type is one name: "*" matches no other type, so its rules would apply to no request; write a policy for each type');

/**
 * Longest advice of one rule, as the length of its JSON: advice is a hint handed to the caller
 * (`{"step_up":"mfa"}`), not a document, and every answer and shared cache entry carries it.
 */
export const maxAdviceJsonLength = 4_096;

/**
 * An advice object within maxAdviceJsonLength characters of JSON. Never throws: one nested too
 * deep for JSON.stringify (a value read back from Redis) is far beyond the bound.
 */
export function adviceFits(advice: Readonly<Record<string, unknown>>): boolean {
  try {
    return JSON.stringify(advice).length <= maxAdviceJsonLength;
  } catch {
    return false;
  }
}
export const wildcardActionMessage = 'an action is one name; "*" stands for any action in rules only';

const ruleShape = {
  id: identifier.describe('Unique among the rules of every policy for this resource type (checked at load); named in every decision the rule makes.'),
  description: z.string().max(2000).optional(),
  effect: z.enum(['permit', 'deny']),
  // At most 1,000 each, as any list of a request: a list of millions, reported element by
  // element, ran a load out of memory.
  actions: z
    .array(actionName)
    .min(1)
    .max(1000)
    .describe('"*" = any action. Each action is spelled one way across the policies of the resource type: names that differ only in case or form (approve, Approve) are refused at load.'),
  roles: ruleClaimList('roles').optional(),
  scopes: ruleClaimList('scopes').optional(),
  condition: z.string().min(1).max(4096).optional().describe('A CEL expression that must be true; compiled, type-checked and cost-bounded at load.'),
  advice: jsonObjectSchema
    .refine(adviceFits, `at most ${maxAdviceJsonLength} characters of JSON`)
    .optional()
    .describe(`Returned with a decision this rule makes, e.g. {"step_up":"mfa"}; at most ${maxAdviceJsonLength} characters as JSON (checked at load).`),
};

/**
 * One rule: applies when action, roles, scopes and condition all match. The descriptions name
 * what only the loader checks (across files, or a value's meaning or size as JSON), which a
 * JSON Schema cannot state: an editor, or CI validating with the schema, passes those.
 */
export const ruleSchema = z
  .strictObject(ruleShape, unknownKeys('a rule', Object.keys(ruleShape)))
  .describe('A rule applies when the action is listed ("*" = any), the subject holds one of `roles` and all of `scopes` (when given), and `condition` (CEL) is true.');

const policyShape = {
  $schema: z.string().optional(),
  id: identifier.describe('Unique among the policy files of the directory (checked at load).'),
  resource: resourceType.describe('The resource type the rules govern, spelled one way across policies: types that differ only in case or form (invoice, Invoice) are refused at load.'),
  description: z.string().max(2000).optional(),
  rules: z.array(ruleSchema).min(1),
};

/** One policy file: the rules for one resource type. */
export const policySchema = z
  .strictObject(policyShape, unknownKeys('a policy', Object.keys(policyShape)))
  .describe(`A policy for one resource type. Default deny; a deny rule that applies beats any permit. Checked at load besides: no key twice in an object, no number a double does not hold exactly, at most ${jsonLimits.maxDepth} levels of nesting.`);

export type RuleSource = z.infer<typeof ruleSchema>;
export type PolicySource = z.infer<typeof policySchema>;

/** JSON Schema for editors, written to policies/policy.schema.json. */
export function policyJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(policySchema, { target: 'draft-2020-12' }),
    $id: 'https://invoice-pdp.local/policy.schema.json',
    title: 'Invoice PDP policy',
  };
}
