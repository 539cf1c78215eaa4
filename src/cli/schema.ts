import { entityJsonSchema } from '../policy/entities.js';
import { fixtureJsonSchema } from '../policy/fixtures.js';
import { policyJsonSchema } from '../policy/schema.js';
import { positionalArgs, UsageError, type Io } from './io.js';

const schemas: Readonly<Record<string, () => Record<string, unknown>>> = {
  policy: policyJsonSchema,
  fixture: fixtureJsonSchema,
  entities: entityJsonSchema,
};

/** `pdp schema [policy|fixture|entities]`: prints the JSON Schema of a policy, test or entity data file. */
export async function schemaCommand(args: readonly string[], io: Io): Promise<number> {
  const [kind = 'policy', ...rest] = positionalArgs(args);
  const schema = Object.hasOwn(schemas, kind) ? schemas[kind] : undefined;
  if (rest.length > 0 || schema === undefined) {
    throw new UsageError('takes one optional argument: policy, fixture or entities');
  }
  io.out(JSON.stringify(schema(), null, 2));
  return 0;
}
