import { z } from 'zod';

const properties = z.record(z.string(), z.unknown());

/** One request → expectation pair in a policy test file (`policies/tests/*.json`). */
export const fixtureCaseSchema = z.strictObject({
  name: z.string().min(1),
  request: z.strictObject({
    subject: z.strictObject({ type: z.string().min(1).optional(), id: z.string().min(1), properties: properties.optional() }),
    action: z.union([z.string().min(1), z.strictObject({ name: z.string().min(1), properties: properties.optional() })]),
    resource: z.strictObject({ type: z.string().min(1), id: z.string().optional(), properties: properties.optional() }),
    context: properties.optional(),
  }),
  expect: z.strictObject({
    decision: z.enum(['permit', 'deny']),
    /** Rule ids that must be among the deciding reasons. */
    rules: z.array(z.string()).optional(),
    /** Advice the decision must carry, compared exactly. */
    advice: z.array(properties).optional(),
    /**
     * Reason codes that must be among the reasons, e.g. `no_applicable_rule`. A condition
     * error fails the case unless `condition_error` is listed: it means missing test data.
     */
    codes: z.array(z.string().min(1)).optional(),
  }),
});

export const fixtureFileSchema = z.strictObject({
  $schema: z.string().optional(),
  description: z.string().optional(),
  /** The instant conditions see as `now`; defaults to the time of the run. */
  now: z.iso.datetime({ offset: true }).optional(),
  cases: z.array(fixtureCaseSchema).min(1),
});

export type FixtureCase = z.infer<typeof fixtureCaseSchema>;
export type FixtureFile = z.infer<typeof fixtureFileSchema>;
