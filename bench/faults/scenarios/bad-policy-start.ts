import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { check, type Check, type Scenario } from '../lib/scenario.js';

const rule = (condition: string) => ({ id: 'r1', effect: 'permit', actions: ['read'], condition });
const policy = (rules: unknown[]) => JSON.stringify({ id: 'p', resource: 'invoice', rules });

/** Policy directories that must not be served, and what the refusal must name. */
const variants: { name: string; files?: Record<string, string>; says: RegExp }[] = [
  { name: 'directory missing', says: /cannot read policy directory/ },
  { name: 'no policy files', files: {}, says: /no policy files/ },
  { name: 'not JSON', files: { 'p.json': '{"id": "p",' }, says: /p\.json \$: not valid JSON/ },
  { name: 'schema violation', files: { 'p.json': JSON.stringify({ id: 'p', resource: 'invoice', rules: [{ id: 'r1', effect: 'allow', actions: [] }] }) }, says: /p\.json \$\.rules\[0\]\.effect/ },
  { name: 'CEL type error', files: { 'p.json': policy([rule('subject.rolez.exists(r, r == "x")')]) }, says: /\(rule r1\): type:/ },
  { name: 'CEL function not allowed', files: { 'p.json': policy([rule('subject.id.matches("^(a+)+$")')]) }, says: /function not allowed: matches/ },
  { name: 'condition too costly', files: { 'p.json': policy([rule('resource.properties.l.exists(a, resource.properties.l.exists(b, a == b))')]) }, says: /too costly/ },
  { name: 'duplicate rule ids', files: { 'p.json': policy([rule('true'), rule('false')]) }, says: /duplicate rule id "r1"/ },
];

/** A bad policy directory at start: the service refuses to start, and says why. */
export const badPolicyStart: Scenario = {
  name: 'bad-policy-start',
  title: 'Bad policy directory at start: refuses to start',
  async run({ spawnServer }) {
    const root = await mkdtemp(join(tmpdir(), 'pdp-faults-'));
    const checks: Check[] = [];
    let refused = 0;
    try {
      for (const variant of variants) {
        const dir = join(root, variant.name.replaceAll(' ', '-'));
        if (variant.files !== undefined) {
          await mkdir(dir);
          for (const [file, text] of Object.entries(variant.files)) await writeFile(join(dir, file), text);
        }
        const startedAt = performance.now();
        const server = spawnServer({ POLICY_DIR: dir });
        const exit = await Promise.race([server.exited, sleep(10_000).then(() => undefined)]);
        const tookMs = Math.round(performance.now() - startedAt);
        const output = server.output();
        const ok = exit?.code === 1 && !output.includes('invoice-pdp listening') && variant.says.test(output);
        if (ok) refused++;
        checks.push(check(`refuses: ${variant.name}`, ok, `exit code ${exit?.code ?? 'none (still running)'} after ${tookMs} ms; ${output.trim().split('\n').at(-1)?.slice(0, 160) ?? ''}`));
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
    return {
      tried: `start with ${variants.length} broken policy directories (missing, empty, bad JSON, schema, CEL type, banned function, too costly, duplicate ids)`,
      checks,
      figures: { 'refused to start': `${refused} of ${variants.length}` },
    };
  },
};
