import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { jsonFilesIn } from '../src/policy/load.js';
import { newAjv } from './helpers/ajv.js';
import { defaultPolicyDir } from './helpers/app.js';
import { runCli } from './helpers/process.js';

const schemaPath = join(defaultPolicyDir, 'policy.schema.json');

describe('policies/policy.schema.json', () => {
  it('is exactly what `pdp schema` generates (run npm run policies:schema after changing the policy schema)', async () => {
    const run = await runCli(['schema']);
    expect(run.code).toBe(0);
    expect(await readFile(schemaPath, 'utf8')).toBe(run.stdout);
  });

  it('validates every policy file in policies/', async () => {
    const validate = newAjv().compile(JSON.parse(await readFile(schemaPath, 'utf8')) as object);
    const { names } = await jsonFilesIn(defaultPolicyDir);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) {
      const policy: unknown = JSON.parse(await readFile(join(defaultPolicyDir, name), 'utf8'));
      expect(validate(policy) ? [] : validate.errors, name).toEqual([]);
    }
  });

  it('rejects what the loader rejects: a misspelt field and a wrong effect', async () => {
    const validate = newAjv().compile(JSON.parse(await readFile(schemaPath, 'utf8')) as object);
    const rule = { id: 'r', effect: 'permit', actions: ['read'] };
    expect(validate({ id: 'p', resource: 'invoice', rules: [rule] })).toBe(true);
    expect(validate({ id: 'p', resource: 'invoice', rules: [{ ...rule, condtion: 'true' }] })).toBe(false);
    expect(validate({ id: 'p', resource: 'invoice', rules: [{ ...rule, effect: 'allow' }] })).toBe(false);
  });
});
