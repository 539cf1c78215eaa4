import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPolicyDir } from '../src/policy/load.js';
import { buildTestApp, defaultPolicyDir, postJson, readJson } from './helpers/app.js';
import { tempDir } from './helpers/tmp.js';

const subject = { type: 'user', id: 'acc-1', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } };
const invoice = (id: string) => ({ type: 'invoice', id, properties: { invoice_type: 'purchase', region: 'EU' } });

/**
 * The shipped policies, and a reload of them that takes back the accountants' read permit,
 * swapped in by the decision service's clock the first time a decision reads it: after the
 * first item of a batch or the first candidate of a search page has begun, while the rest are
 * still to be decided.
 */
async function appReloadedMidAnswer() {
  const shipped = JSON.parse(await readFile(join(defaultPolicyDir, 'invoices.json'), 'utf8')) as { rules: { id: string }[] };
  const withoutRead = { ...shipped, $schema: undefined, rules: shipped.rules.filter((r) => r.id !== 'P2-finance-read-own-region') };
  const reloaded = await loadPolicyDir(await tempDir({ 'invoices.json': withoutRead }));
  let armed = false;
  const built = await buildTestApp({
    clock: () => {
      if (armed) {
        armed = false;
        built.policies.replace(reloaded);
      }
      return new Date();
    },
  });
  const original = built.policies.current.set.version;
  expect(reloaded.version).not.toBe(original);
  return { app: built.app, original, reloaded: reloaded.version, arm: () => (armed = true) };
}

type Evaluation = { decision: boolean; context: { policy_version: string } };

describe('one answer, one policy set', () => {
  it.each(['execute_all', 'deny_on_first_deny'])('a %s batch is decided whole against the set in force when it started', async (semantic) => {
    const { app, original, reloaded, arm } = await appReloadedMidAnswer();
    arm();
    const res = await postJson(app, '/access/v1/evaluations', {
      subject,
      action: { name: 'read' },
      options: { evaluations_semantic: semantic, include_reasons: true },
      evaluations: [{ resource: invoice('inv-1') }, { resource: invoice('inv-2') }, { resource: invoice('inv-3') }],
    });
    expect(res.status).toBe(200);
    const { evaluations } = (await readJson(res)) as { evaluations: Evaluation[] };
    expect(evaluations.map((e) => [e.decision, e.context.policy_version])).toEqual([
      [true, original],
      [true, original],
      [true, original],
    ]);
    // The reload did land: the next request is decided under it.
    const after = await readJson(await postJson(app, '/access/v1/evaluation', { subject, action: { name: 'read' }, resource: invoice('inv-1') }));
    expect(after).toMatchObject({ decision: false, context: { policy_version: reloaded } });
  });

  it('an action search page is decided whole against the set in force when it started', async () => {
    const { app, reloaded, arm } = await appReloadedMidAnswer();
    const body = { subject, resource: invoice('inv-1') };
    const before = await readJson(await postJson(app, '/access/v1/search/action', body));
    expect(before.results).toEqual([{ name: 'read' }]);
    arm();
    const during = await readJson(await postJson(app, '/access/v1/search/action', body));
    expect(during.results).toEqual([{ name: 'read' }]);
    const after = await readJson(await postJson(app, '/access/v1/evaluation', { subject, action: { name: 'read' }, resource: invoice('inv-1') }));
    expect(after).toMatchObject({ decision: false, context: { policy_version: reloaded } });
  });
});
