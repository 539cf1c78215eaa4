import { cp, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadPolicyDir } from '../../../src/policy/load.js';
import { tempDir, writeFilesByRename } from '../../../test/helpers/policy-dir.js';
import { sample } from '../../../test/helpers/telemetry.js';
import { no5xx, noWrongDecisions } from '../lib/checks.js';
import { everyPhaseAnswered, phaseLatencyFigures } from '../lib/phases.js';
import { check, type Check, type Scenario } from '../lib/scenario.js';
import { stopServer } from '../lib/server-exit.js';
import { call, type Answer } from '../lib/service-probe.js';

const shippedDir = resolve(import.meta.dirname, '../../../policies');
const adminKey = 'faults-invalid-reload-admin-key';
const admin = { authorization: `Bearer ${adminKey}` };

type Policy = { rules: Record<string, unknown>[] } & Record<string, unknown>;
type Trigger = 'admin' | 'signal' | 'watch';

/** A rewrite of invoices.json: valid ones keep the shipped rules (the oracle still holds), invalid ones must be refused. */
interface Variant {
  readonly name: string;
  readonly text: (shipped: Policy, shippedText: string) => string;
  /** For an invalid set: what the refusal names. */
  readonly says?: RegExp;
}

/** A permit for everyone, everything: what a broken set must never let through. */
const openRule = (extra: Record<string, unknown>) => ({ id: 'X-open', effect: 'permit', actions: ['*'], ...extra });
const withRule = (p: Policy, rule: Record<string, unknown>) => JSON.stringify({ ...p, rules: [...p.rules, rule] }, null, 2);

const valid: readonly Variant[] = [
  { name: 'reformatted on one line', text: (p) => JSON.stringify(p) },
  { name: 'rules in reverse order, four-space indent', text: (p) => JSON.stringify({ ...p, rules: [...p.rules].reverse() }, null, 4) },
  {
    name: 'descriptions dropped, keys reordered',
    text: (p) => JSON.stringify({ rules: p.rules.map((rule) => Object.fromEntries(Object.entries(rule).filter(([key]) => key !== 'description').reverse())), resource: p['resource'], id: p['id'] }, null, 1),
  },
];

const invalid: readonly Variant[] = [
  { name: 'not JSON (cut short)', text: (_, text) => text.slice(0, Math.floor(text.length / 2)), says: /not valid JSON/ },
  { name: 'schema violation (a permit-all rule with a misspelt key)', text: (p) => withRule(p, openRule({ rolez: ['nobody'] })), says: /\$\.rules\[9\]/ },
  { name: 'CEL type error (a permit-all rule)', text: (p) => withRule(p, openRule({ condition: 'subject.rolez.exists(r, r == "x") || true' })), says: /"rule":"X-open","message":"type/ },
  { name: 'CEL syntax error', text: (p) => withRule(p, openRule({ condition: 'resource.properties.region ==' })), says: /syntax/ },
  { name: 'duplicate rule id', text: (p) => withRule(p, openRule({ id: 'D1-no-self-approval', effect: 'permit' })), says: /duplicate rule id/ },
];

const triggers: readonly Trigger[] = ['admin', 'signal', 'watch'];

/** What GET /admin/policies says: the version serving and the last rejected reload. */
interface Serving {
  readonly version: string;
  readonly lastReloadError: { at: string; trigger: string; issues: unknown[] } | null;
}

async function serving(port: number): Promise<Serving | undefined> {
  const { status, body } = await call(port, '/admin/policies', { headers: admin });
  return status === 200 ? (body as Serving) : undefined;
}

/** Polls /admin/policies until `done` holds (or 3 s pass); the last reading. */
async function servingWhen(port: number, done: (s: Serving) => boolean): Promise<Serving | undefined> {
  const deadline = performance.now() + 3_000;
  let last = await serving(port);
  while ((last === undefined || !done(last)) && performance.now() < deadline) {
    await sleep(20);
    last = await serving(port);
  }
  return last;
}

/** The version a policy directory compiles to, as the service computes it. */
async function versionOf(files: Record<string, string>): Promise<string> {
  const staging = await tempDir('pdp-faults-version-');
  try {
    await writeFilesByRename(staging.path, files);
    return (await loadPolicyDir(staging.path)).version;
  } finally {
    await staging.remove();
  }
}

/** One rewrite of the directory and one reload, and whether it went as it must. */
interface Step {
  readonly variant: Variant;
  readonly trigger: Trigger;
  readonly ok: boolean;
  readonly detail: string;
}

/**
 * Policy reloads under load: the directory rewritten again and again with valid copies of the
 * shipped policy (reformatted, reordered: the same decisions) and invalid sets (bad JSON, a
 * schema violation, CEL type and syntax errors, a duplicate rule id, each but the first adding
 * a permit-all rule), each reload triggered by the admin endpoint, SIGHUP or the watcher.
 */
export const invalidReload: Scenario = {
  name: 'invalid-reload',
  title: 'Valid and invalid policy sets reloaded under load',
  async run({ quick, spawnServer, startLoad }) {
    const rounds = quick ? 1 : 3;
    const dir = await tempDir('pdp-faults-policies-');
    try {
      await cp(shippedDir, dir.path, { recursive: true });
      const shippedText = await readFile(join(shippedDir, 'invoices.json'), 'utf8');
      const shipped = JSON.parse(shippedText) as Policy;
      const expectedVersion = new Map<string, string>();
      for (const v of valid) expectedVersion.set(v.name, await versionOf({ 'invoices.json': v.text(shipped, shippedText) }));

      const server = spawnServer({ POLICY_DIR: dir.path, PDP_ADMIN_KEYS: adminKey });
      const port = await server.listening;
      const startVersion = (await serving(port))?.version ?? '?';
      const failuresBefore = await reloadFailures(port);
      // Each invalid set followed by a valid one; over three rounds, every invalid kind meets every trigger.
      const plan = Array.from({ length: rounds * invalid.length }, (_, k) => [
        { variant: invalid[k % invalid.length] as Variant, trigger: triggers[k % triggers.length] as Trigger },
        { variant: valid[(k + Math.floor(k / valid.length)) % valid.length] as Variant, trigger: triggers[(k + 1) % triggers.length] as Trigger },
      ]).flat();
      // Long enough for the watcher's debounced reload (200 ms) of each write to pass before the next.
      const stepMs = 600;
      const load = startLoad({ port, concurrency: 64, ratePerSecond: 500, durationMs: 1_000 + plan.length * stepMs + (quick ? 1_500 : 3_000), maxRequests: 1e9, seed: 8 });
      await load.waitFor('started');
      await sleep(1_000);
      load.mark('reloading');

      let lastGood = startVersion;
      const steps: Step[] = [];
      for (const { variant, trigger } of plan) {
        const began = performance.now();
        const writtenAt = Date.now();
        await writeFilesByRename(dir.path, { 'invoices.json': variant.text(shipped, shippedText) });
        const expected = expectedVersion.get(variant.name);
        const step = expected === undefined
          ? await invalidStep(port, server.child.pid, variant, trigger, writtenAt, lastGood)
          : await validStep(port, server.child.pid, variant, trigger, expected);
        steps.push(step);
        if (expected !== undefined && step.ok) lastGood = expected;
        await sleep(Math.max(0, began + stepMs - performance.now()));
      }
      load.mark('after');

      const summary = await load.done;
      const final = await serving(port);
      const ready = await call(port, '/readyz');
      const failures = (await reloadFailures(port)) - failuresBefore;
      await stopServer(server);

      const refused = steps.filter((s) => s.variant.says !== undefined);
      const accepted = steps.filter((s) => s.variant.says === undefined);
      const labels = { start: 'before the reloads', reloading: 'during the reloads', after: 'after them' };
      const stepChecks: Check[] = triggers.flatMap((trigger) => [
        summarise(refused.filter((s) => s.trigger === trigger), `every invalid set refused, the last good version still serving (${trigger})`),
        summarise(accepted.filter((s) => s.trigger === trigger), `every valid set put in force (${trigger})`),
      ]);
      return {
        tried: `500 requests/s from up to 64 connections while invoices.json was rewritten ${plan.length} times, ${stepMs} ms apart: ${refused.length} invalid sets (${invalid.map((v) => v.name).join('; ')}) and ${accepted.length} valid copies of the shipped policy, each reload by the admin endpoint, SIGHUP or the watcher`,
        counts: summary.total,
        checks: [
          ...everyPhaseAnswered(summary, labels),
          noWrongDecisions(summary.total),
          no5xx(summary.total),
          ...stepChecks,
          check('failed reloads counted', failures >= refused.length, `pdp_policy_reloads_total{result="failure"} +${failures} for ${refused.length} invalid sets (the watcher reloads again after a signal or the endpoint)`),
          check(
            'serving normally afterwards, on the last good set',
            ready.status === 200 && final?.version === lastGood && final.lastReloadError === null,
            `GET /readyz → ${ready.status}; version ${final?.version ?? '?'} (last good ${lastGood}), lastReloadError ${final?.lastReloadError === null ? 'null' : 'set'}`,
          ),
        ],
        figures: {
          ...phaseLatencyFigures(summary, labels),
          'invalid sets refused': `${refused.filter((s) => s.ok).length} of ${refused.length}`,
          'valid sets put in force': `${accepted.filter((s) => s.ok).length} of ${accepted.length}`,
        },
      };
    } finally {
      await dir.remove();
    }
  },
};

async function reloadFailures(port: number): Promise<number> {
  const { body } = await call(port, '/metrics');
  return sample(typeof body === 'string' ? body : '', 'pdp_policy_reloads_total', { result: 'failure' }) ?? 0;
}

/** Sends the trigger; for the admin endpoint, its answer. */
async function pull(port: number, pid: number | undefined, trigger: Trigger): Promise<Answer | undefined> {
  if (trigger === 'admin') return call(port, '/admin/policies/reload', { method: 'POST', headers: admin });
  if (trigger === 'signal' && pid !== undefined) process.kill(pid, 'SIGHUP');
  return undefined;
}

async function invalidStep(port: number, pid: number | undefined, variant: Variant, trigger: Trigger, writtenAt: number, lastGood: string): Promise<Step> {
  const answer = await pull(port, pid, trigger);
  // A rejection recorded after this write, not an earlier one.
  const rejected = (s: Serving | undefined) => s?.lastReloadError != null && Date.parse(s.lastReloadError.at) >= writtenAt;
  const after = await servingWhen(port, rejected);
  const issues = JSON.stringify(after?.lastReloadError?.issues ?? []);
  const reported = rejected(after) && (answer === undefined || answer.status === 422);
  const ok = reported && after?.version === lastGood && variant.says?.test(issues) === true;
  const how = answer === undefined ? `lastReloadError ${rejected(after) ? `from ${after?.lastReloadError?.trigger ?? '?'}` : 'not recorded'}` : `POST → ${answer.status}`;
  return { variant, trigger, ok, detail: `${variant.name}: ${how}, serving ${after?.version ?? '?'}${ok ? '' : ` (last good ${lastGood}; issues ${issues.slice(0, 200)})`}` };
}

async function validStep(port: number, pid: number | undefined, variant: Variant, trigger: Trigger, expected: string): Promise<Step> {
  const answer = await pull(port, pid, trigger);
  const after = await servingWhen(port, (s) => s.version === expected && s.lastReloadError === null);
  const ok = (answer === undefined || answer.status === 200) && after?.version === expected && after.lastReloadError === null;
  return { variant, trigger, ok, detail: `${variant.name}: ${answer === undefined ? '' : `POST → ${answer.status}, `}serving ${after?.version ?? '?'}` };
}

function summarise(steps: readonly Step[], name: string): Check {
  const failed = steps.filter((s) => !s.ok);
  return check(name, steps.length > 0 && failed.length === 0, failed.length === 0 ? `${steps.length} of ${steps.length}` : `${failed.length} of ${steps.length} wrong: ${failed.map((s) => s.detail).join('; ')}`);
}
