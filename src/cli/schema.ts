import { fixtureJsonSchema } from '../policy/fixtures.js';
import { policyJsonSchema } from '../policy/schema.js';
import { UsageError, type Io } from './io.js';

/** `pdp schema [policy|fixture]`: prints the JSON Schema of a policy file or a test file. */
export async function schemaCommand(args: readonly string[], io: Io): Promise<number> {
  const [kind = 'policy', ...rest] = args;
  if (rest.length > 0 || (kind !== 'policy' && kind !== 'fixture')) {
    throw new UsageError('pdp schema takes one optional argument: policy or fixture');
  }
  io.out(JSON.stringify(kind === 'policy' ? policyJsonSchema() : fixtureJsonSchema(), null, 2));
  return 0;
}
