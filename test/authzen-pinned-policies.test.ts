import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPolicyDir } from '../src/policy/load.js';
import { buildTestApp, defaultPolicyDir, postJson, readJson } from './helpers/app.js';
import { writeFiles } from './helpers/policy-dir.js';
import { tempDir } from './helpers/tmp.js';

const subject = { type: 'user', id: 'acc-1', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } };
const invoice = (id: string) => ({ type: 'invoice', id, properties: { invoice_type: 'purchase', region: 'EU' } });

/**
 * The test app over `policyDir`, whose decision service's clock swaps in `reloaded` the first
 * time a decision reads it once armed: after the first item of a batch or the first candidate
 * of a search page has begun, while the rest are still to be decided. `recorded`: the policy
 * version of every decision recorded.
 */
async function appReloadedAt(policyDir: string | undefined, reloaded: Awaited<ReturnType<typeof loadPolicyDir>>) {
  let armed = false;
  const recorded: string[] = [];
  const built = await buildTestApp({
    policyDir,
    recorder: { record: (record) => void recorded.push(record.outcome.policyVersion) },
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
  return { app: built.app, original, reloaded: reloaded.version, arm: () => (armed = true), recorded };
}

/** The shipped policies, reloaded without the accountants' read permit (see appReloadedAt). */
async function appReloadedMidAnswer() {
  const shipped = JSON.parse(await readFile(join(defaultPolicyDir, 'invoices.json'), 'utf8')) as { rules: { id: string }[] };
  const withoutRead = { ...shipped, $schema: undefined, rules: shipped.rules.filter((r) => r.id !== 'P2-finance-read-own-region') };
  return appReloadedAt(undefined, await loadPolicyDir(await tempDir({ 'invoices.json': withoutRead })));
}

/** Records r1-r3 that only their owner views: alice's in the entity data, bob's once reloaded (see appReloadedAt). */
async function recordsReloadedMidAnswer() {
  const ownedBy = async (owner: string) => {
    const dir = await tempDir();
    await writeFiles(dir, {
      'records.json': { id: 'records', resource: 'record', rules: [{ id: 'owner', effect: 'permit', actions: ['view'], condition: 'resource.properties.owner == subject.id' }] },
      'data/records.json': { entities: ['r1', 'r2', 'r3'].map((id) => ({ type: 'record', id, properties: { owner } })) },
    });
    return dir;
  };
  return appReloadedAt(await ownedBy('alice'), await loadPolicyDir(await ownedBy('bob')));
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

  it('an invalid item of a batch is recorded under the set the batch started under', async () => {
    const { app, original, arm, recorded } = await appReloadedMidAnswer();
    arm();
    const res = await postJson(app, '/access/v1/evaluations', { subject, action: { name: 'read' }, evaluations: [{ resource: invoice('inv-1') }, { resource: 5 }] });
    expect((await readJson(res)).evaluations).toEqual([{ decision: true }, { decision: false }]);
    expect(recorded).toEqual([original, original]);
  });

  it('a batch is decided on the entity data of the set in force when it started', async () => {
    const { app, original, arm } = await recordsReloadedMidAnswer();
    arm();
    const res = await postJson(app, '/access/v1/evaluations', {
      subject: { type: 'user', id: 'alice' },
      action: { name: 'view' },
      options: { include_reasons: true },
      evaluations: ['r1', 'r2', 'r3'].map((id) => ({ resource: { type: 'record', id } })),
    });
    const { evaluations } = (await readJson(res)) as { evaluations: Evaluation[] };
    expect(evaluations.map((e) => [e.decision, e.context.policy_version])).toEqual([
      [true, original],
      [true, original],
      [true, original],
    ]);
  });

  it('a resource search page is decided on the entity data of the set in force when it started', async () => {
    const { app, arm } = await recordsReloadedMidAnswer();
    arm();
    const page = await readJson(await postJson(app, '/access/v1/search/resource', { subject: { type: 'user', id: 'alice' }, action: { name: 'view' }, resource: { type: 'record' } }));
    expect(page.results).toEqual(['r1', 'r2', 'r3'].map((id) => ({ type: 'record', id })));
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
