import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnServer, type ServerProcess } from './helpers/spawn-server.js';
import { tempDir } from './helpers/tmp.js';

// The policy version identifies a set of policy files: replicas reading the same files answer
// with the same `policyVersion` and share Redis cache keys, whatever locale each process runs
// in. Estonian sorts "z" right after "s", so "z-invoices" before "t-invoices" there and after
// it in English.

const rule = (id: string) => ({ id, effect: 'permit', actions: ['read'] });

describe('the policy version of one set of files', () => {
  let dir: string;
  const procs: ServerProcess[] = [];
  beforeAll(async () => {
    dir = await tempDir({
      't.json': { id: 't-invoices', resource: 'invoice', rules: [rule('T1')] },
      'z.json': { id: 'z-invoices', resource: 'invoice', rules: [rule('Z1')] },
    });
  });
  afterAll(async () => {
    for (const proc of procs) proc.child.kill();
    await Promise.all(procs.map((proc) => proc.exited));
  });

  async function versionUnder(locale: string): Promise<unknown> {
    const proc = spawnServer({ POLICY_DIR: dir, LANG: locale, LC_ALL: locale });
    procs.push(proc);
    const res = await fetch(`http://127.0.0.1:${await proc.listening}/decide`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ subject: { id: 'u1' }, action: 'read', resource: { type: 'invoice' } }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body['decision']).toBe('permit');
    return body['policyVersion'];
  }

  it('is the same in processes running in different locales', async () => {
    const [english, estonian, posix] = await Promise.all([versionUnder('en_US.UTF-8'), versionUnder('et_EE.UTF-8'), versionUnder('C')]);
    expect(typeof english).toBe('string');
    expect(estonian).toBe(english);
    expect(posix).toBe(english);
  });

  it('lists the rules of pdp test --coverage in the same order in every locale', async () => {
    await mkdir(join(dir, 'tests'), { recursive: true });
    const request = { subject: { id: 'u1' }, action: 'read', resource: { type: 'invoice' } };
    await writeFile(join(dir, 'tests', 'reads.json'), JSON.stringify({ cases: [{ name: 'reads', request, expect: { decision: 'permit' } }] }));
    const cli = resolve(import.meta.dirname, '../dist/cli/main.js');
    const coveredUnder = async (locale: string) => {
      const { stdout } = await promisify(execFile)(process.execPath, [cli, 'test', dir, '--coverage', '--json'], { env: { PATH: process.env['PATH'], LANG: locale, LC_ALL: locale } });
      return (JSON.parse(stdout) as { coverage: { rules: { policy: string }[] } }).coverage.rules.map((r) => r.policy);
    };
    expect(await coveredUnder('et_EE.UTF-8')).toEqual(['t-invoices', 'z-invoices']);
    expect(await coveredUnder('en_US.UTF-8')).toEqual(['t-invoices', 'z-invoices']);
  });
});
