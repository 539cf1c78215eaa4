import { z } from 'zod';
import type { ReasonCode } from '../decision/types.js';
import { findLimitViolation, jsonLimits } from '../json-limits.js';
import { jsonObjectSchema } from '../json-object.js';
import { actionNameSchema, resourceIdSchema, subjectIdSchema, typeNameSchema } from '../request-names.js';
import { maxTimestampMs, minTimestampMs } from './cel-spec-functions.js';
import { unknownKeys } from './unknown-keys.js';

/**
 * An RFC 3339 instant that conditions may see as `now`: within CEL's timestamps (years 1 to 9999
 * in UTC), as every clock the server reads is. `0000-06-01T00:00:00Z`, or `9999-12-31T23:30:00-01:00`
 * (year 10000 in UTC), read as a date, made a decision no request to the server could meet.
 * Written as conditions' timestamp() reads one (Go's RFC 3339 layout): upper-case `T` and `Z`,
 * though RFC 3339 allows lower-case, which its refusal says.
 */
export const instantSchema = z.iso
  .datetime({ offset: true, error: "an RFC 3339 date-time with upper-case T and Z, as conditions' timestamp() reads it, such as 2025-03-01T09:00:00Z or 2025-03-01T10:00:00.5+01:00" })
  .refine((text) => {
    const ms = Date.parse(text);
    return ms >= minTimestampMs && ms <= maxTimestampMs;
  }, 'outside the timestamps conditions know, 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z')
  .describe('The instant conditions see as `now`, T and Z upper-case as timestamp() reads them: within 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z in UTC (checked at load: 9999-12-31T23:30:00-01:00 is year 10000).');

/**
 * A request's object refusing keys it does not take, saying where they go: a subject's roles
 * written beside its id (`"subject": {"id": "alice", "roles": […]}`) were refused as
 * `Unrecognized key: "roles"`, without a word of `subject.properties`, where claims are read.
 */
function attributesIn(owner: 'subject' | 'action' | 'resource', what: string): { error: (issue: z.core.$ZodRawIssue) => string | undefined } {
  return {
    error: (issue) => {
      if (issue.code !== 'unrecognized_keys') return undefined;
      const { keys } = issue;
      return `Unrecognized key${keys.length > 1 ? 's' : ''}: ${keys.map((key) => `"${key}"`).join(', ')}; ${what} go in ${owner}.properties`;
    },
  };
}

/**
 * A decision request as a test case (and `pdp check`) states it: claims already verified. It is
 * held to the bounds `/decide` puts on a body (lengths of names and ids, sizes of collections and
 * strings), so no request is decided offline that the server would refuse.
 */
export const fixtureRequestSchema = z
  .strictObject({
    subject: z.strictObject(
      { type: typeNameSchema.optional(), id: subjectIdSchema, properties: jsonObjectSchema.optional() },
      attributesIn('subject', "a subject's claims (roles, scopes, any attribute)"),
    ),
    action: z.union([actionNameSchema, z.strictObject({ name: actionNameSchema, properties: jsonObjectSchema.optional() }, attributesIn('action', "an action's attributes"))]),
    resource: z.strictObject(
      { type: typeNameSchema, id: resourceIdSchema.optional(), properties: jsonObjectSchema.optional() },
      attributesIn('resource', "a resource's attributes"),
    ),
    context: jsonObjectSchema.optional(),
  })
  .check((ctx) => {
    const overLimit = findLimitViolation(ctx.value);
    if (overLimit !== undefined) ctx.issues.push({ code: 'custom', path: [...overLimit.path], message: overLimit.message, input: ctx.value });
  })
  .describe(
    `A /decide body. Checked at load besides: the JSON limits of a request (${jsonLimits.maxCollection} elements per array or object, strings of ${jsonLimits.maxString} characters, ${jsonLimits.maxDepth} levels), ` +
      'its size as compact JSON against MAX_BODY_BYTES, and an action some rule of the resource type names (or "*"), unless expect.reasons lists no_applicable_rule.',
  );

/**
 * The reason codes a case's decision can carry: a misspelt one (`no_aplicable_rule`), or one only
 * the HTTP edge gives (`invalid_token`, `invalid_request`), made a case that could never pass,
 * found only once the tests ran.
 */
export const caseReasonCodes = ['no_applicable_rule', 'condition_error', 'unknown_resource_type', 'action_case_mismatch', 'entity_case_mismatch', 'limit_exceeded'] as const satisfies readonly ReasonCode[];
export type CaseReasonCode = (typeof caseReasonCodes)[number];

const expectShape = {
  decision: z.enum(['permit', 'deny']),
  /** Rule ids that must be among the deciding reasons. */
  rules: z
    .array(z.string().min(1))
    .optional()
    .describe('Ids of rules that must be among the deciding reasons. Checked at load: each the id of a rule of the request\'s resource type, of the effect of expect.decision, naming the request\'s action or "*", as no other rule decides the case.'),
  /**
   * Reason codes (`no_applicable_rule`, `condition_error`, …) that must be among the reasons.
   * A condition error fails the case unless `condition_error` is listed.
   */
  reasons: z
    .array(z.enum(caseReasonCodes))
    .optional()
    .describe('Reason codes that must be among the reasons. Checked at load besides: a code other than condition_error comes only with a deny that no rule decides, so never with an expected permit nor beside expect.rules.'),
  /** Advice the decision must carry, compared exactly and in order. */
  advice: z.array(jsonObjectSchema).optional(),
};

/** What a case expects; every field but `decision` is optional and checked only when given. */
const fixtureExpectSchema = z.strictObject(expectShape, unknownKeys('an expectation', Object.keys(expectShape)));

const caseShape = {
  name: z.string().min(1).describe('Unique in the file, a group\'s case named as "group › name" (checked at load).'),
  description: z.string().optional(),
  /** The instant conditions see as `now`, for this case alone. */
  now: instantSchema.optional(),
  request: fixtureRequestSchema,
  expect: fixtureExpectSchema,
};

/** One request → expectation pair in a policy test file (`policies/tests/*.json`). */
export const fixtureCaseSchema = z.strictObject(caseShape, unknownKeys('a case', Object.keys(caseShape)));

const groupShape = {
  name: z.string().min(1).describe('Unique among the groups of the file (checked at load).'),
  description: z.string().optional(),
  now: instantSchema.optional(),
  // A longer list is one problem, its cases unread (see checkSchema).
  cases: z.array(fixtureCaseSchema).min(1).max(10_000),
};

/** A named group of cases, optionally sharing a `now`. */
const fixtureGroupSchema = z.strictObject(groupShape, unknownKeys('a group', Object.keys(groupShape)));

const fixtureFileShape = {
  $schema: z.string().optional(),
  description: z.string().optional(),
  now: instantSchema.optional(),
  cases: z.array(fixtureCaseSchema).optional(),
  groups: z.array(fixtureGroupSchema).optional(),
};

/**
 * A policy test file: cases, groups of cases, or both. `now` applies to every case that
 * does not set its own (a case's `now` beats its group's, which beats the file's); without
 * any, conditions see the time of the run.
 */
export const fixtureFileSchema = z
  .strictObject(fixtureFileShape, unknownKeys('a test file', Object.keys(fixtureFileShape)))
  .refine((file) => (file.cases?.length ?? 0) + (file.groups?.length ?? 0) > 0, {
    message: 'a test file needs at least one case or group',
  });

export type FixtureRequest = z.infer<typeof fixtureRequestSchema>;
export type FixtureCase = z.infer<typeof fixtureCaseSchema>;
export type FixtureFile = z.infer<typeof fixtureFileSchema>;

/** A list of at least one entry, as JSON Schema. */
const someOf = (field: 'cases' | 'groups') => ({ required: [field], properties: { [field]: { type: 'array', minItems: 1 } } });

/**
 * JSON Schema of a test file, for editors. zod writes no refinement into it, so the file's
 * (at least one case or group) is added: without it an editor, or a CI job validating with the
 * schema, passed a file the loader refuses.
 */
export function fixtureJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(fixtureFileSchema, { target: 'draft-2020-12' }),
    anyOf: [someOf('cases'), someOf('groups')],
    $id: 'https://invoice-pdp.local/fixture.schema.json',
    title: 'Invoice PDP policy tests',
  };
}
