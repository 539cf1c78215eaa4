import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defaultPolicyDir } from './helpers/app.js';
import { jwtIssuer, sample } from './helpers/telemetry.js';

const mainJs = resolve(import.meta.dirname, '../dist/main.js');
const metricsToken = 'scrape-secret-0123456789';

interface Running {
  readonly child: ChildProcess;
  readonly base: string;
  stdout(): string;
  stderr(): string;
}

/** Starts `node dist/main.js` on a free port and waits for its startup line. */
async function startService(env: Record<string, string>): Promise<Running> {
  const child = spawn(process.execPath, [mainJs], {
    env: { PATH: process.env.PATH, PORT: '0', HOST: '127.0.0.1', POLICY_DIR: defaultPolicyDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const port = await new Promise<number>((resolvePort, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      err += chunk.toString();
      const match = /"port":(\d+)/.exec(err);
      if (match?.[1] !== undefined) resolvePort(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`service exited with ${String(code)}: ${err}`)));
  });
  return { child, base: `http://127.0.0.1:${port}`, stdout: () => out, stderr: () => err };
}

/** Sends SIGTERM and resolves with the exit code. */
function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolveStop) => {
    if (child.exitCode !== null) return resolveStop(child.exitCode);
    child.once('exit', (code) => resolveStop(code));
    child.kill('SIGTERM');
  });
}

const readInvoice = { action: 'read', resource: { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'EU' } } };

describe('the running service (dist/main.js)', () => {
  let dir: string;
  let service: Running;
  let token: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pdp-obs-'));
    const issuer = await jwtIssuer();
    await writeFile(join(dir, 'jwks.json'), JSON.stringify(issuer.jwks));
    token = await issuer.sign({ roles: ['accountant'], scope: 'invoice.read', region: 'EU', email: 'alice@example.com' }, 'alice');
    service = await startService({
      JWKS_FILE: join(dir, 'jwks.json'),
      JWT_ISSUER: 'https://idp.test',
      JWT_AUDIENCE: 'invoice-api',
      METRICS_TOKEN: metricsToken,
    });
  });

  afterAll(async () => {
    if (service !== undefined) await stop(service.child);
    await rm(dir, { recursive: true, force: true });
  });

  it('decides, exports metrics behind METRICS_TOKEN, audits to stdout and logs to stderr without secrets', async () => {
    const decide = await fetch(`${service.base}/decide`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'proc-1' },
      body: JSON.stringify({ token, action: 'read', resource: { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'EU' } } }),
    });
    const decision = (await decide.json()) as { decision: string; policyVersion: string };
    expect(decision.decision).toBe('permit');

    expect((await fetch(`${service.base}/metrics`)).status).toBe(401);
    const scraped = await fetch(`${service.base}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
    expect(scraped.status).toBe(200);
    const text = await scraped.text();
    expect(sample(text, 'pdp_decisions_total', { decision: 'permit', endpoint: 'decide', source: 'evaluated' })).toBe(1);
    expect(sample(text, 'pdp_policy_info', { version: decision.policyVersion })).toBe(1);
    expect(sample(text, 'pdp_policy_rules')).toBe(9);
    expect(text).not.toContain('pdp_redis_up');

    await stop(service.child);

    const startup = service.stderr().split('\n').filter((l) => l.includes('invoice-pdp listening')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(startup).toHaveLength(1);
    expect(startup[0]).toMatchObject({
      policyVersion: decision.policyVersion,
      policies: 1,
      rules: 9,
      config: { METRICS_TOKEN: '[hidden]', AUDIT_DECISIONS: 'all', JWT_ISSUER: 'https://idp.test' },
    });

    const audit = service.stdout().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(audit).toEqual([
      expect.objectContaining({ log: 'audit', requestId: 'proc-1', decision: 'permit', subject: expect.objectContaining({ id: 'alice' }) }),
    ]);

    const everything = service.stdout() + service.stderr();
    for (const secret of [token, token.split('.')[2] ?? token, metricsToken, 'alice@example.com']) {
      expect(everything).not.toContain(secret);
    }
  });
});

describe('the running service writing its audit log to a file', () => {
  let dir: string;
  let service: Running | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pdp-obs-'));
  });

  afterEach(async () => {
    if (service !== undefined) await stop(service.child);
    service = undefined;
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps deciding when the file cannot be opened, past the flush interval, counts the lost lines, warns, and exits cleanly', async () => {
    service = await startService({ AUDIT_LOG_FILE: join(dir, 'missing-dir', 'audit.log') });
    const decide = () =>
      fetch(`${service?.base}/decide`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ subject: { id: 'u', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } }, ...readInvoice }),
      });
    for (let i = 0; i < 5; i += 1) expect(((await (await decide()).json()) as { decision: string }).decision).toBe('permit');
    await new Promise((resolveWait) => setTimeout(resolveWait, 1300));
    expect(((await (await decide()).json()) as { decision: string }).decision).toBe('permit');

    const text = await (await fetch(`${service.base}/metrics`)).text();
    expect(sample(text, 'pdp_audit_errors_total')).toBeGreaterThanOrEqual(6);
    const evaluated = sample(text, 'pdp_decisions_total', { decision: 'permit', endpoint: 'decide', source: 'evaluated' });
    const fromMemory = sample(text, 'pdp_decisions_total', { decision: 'permit', endpoint: 'decide', source: 'memory' });
    expect([evaluated, fromMemory]).toEqual([6, 0]);

    expect(await stop(service.child)).toBe(0);
    const warnings = service.stderr().split('\n').filter((l) => l.includes('audit line not written'));
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    expect(warnings[0]).toContain('ENOENT');
  });

  it('opens AUDIT_LOG_FILE once its folder appears, writing from then on, and counts the lines lost before', async () => {
    const folder = join(dir, 'late-dir');
    service = await startService({ AUDIT_LOG_FILE: join(folder, 'audit.log') });
    const decide = async (id: string) => {
      const res = await fetch(`${service?.base}/decide`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': id },
        body: JSON.stringify({ subject: { id: 'u', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } }, ...readInvoice }),
      });
      expect(((await res.json()) as { decision: string }).decision).toBe('permit');
    };
    await decide('before-1');
    await decide('before-2');
    await mkdir(folder);
    const deadline = Date.now() + 15_000;
    while (!service.stderr().includes('audit log opened') && Date.now() < deadline) await new Promise((wait) => setTimeout(wait, 50));
    expect(service.stderr()).toContain('audit log opened: AUDIT_LOG_FILE, which could not be opened, is written from now on');
    await decide('after-1');
    expect(await stop(service.child)).toBe(0);
    const lines = (await readFile(join(folder, 'audit.log'), 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((line) => line['requestId'])).toEqual(['after-1']);
    const warnings = service.stderr().split('\n').filter((l) => l.includes('audit line not written'));
    expect(warnings.join('\n')).toContain('ENOENT');
  });

  it('writes, when stopped with SIGTERM, the audit line of every decision it answered, in order, before it exits', async () => {
    const file = join(dir, 'audit.log');
    service = await startService({ AUDIT_LOG_FILE: file });
    const subject = { type: 'user', id: 'u', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } };
    // Batches of 50 decisions of ~2 KB each, each batch written at once; then a small one that
    // is still held in memory (under a chunk, within the flush interval) when the signal comes.
    let next = 0;
    const decisionIds: string[] = [];
    for (const [count, pad] of [[50, 2000], [50, 2000], [50, 2000], [50, 2000], [3, 10]] as const) {
      const evaluations = Array.from({ length: count }, () => ({ context: { n: next++, pad: 'x'.repeat(pad) } }));
      const res = await fetch(`${service.base}/access/v1/evaluations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ subject, action: { name: 'read' }, resource: readInvoice.resource, evaluations, options: { include_reasons: true } }),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { evaluations: { decision: boolean; context: { decision_id: string } }[] };
      for (const item of body.evaluations) decisionIds.push(item.context.decision_id);
    }
    expect(await stop(service.child)).toBe(0);
    const lines = (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { decisionId: string; context: { n: number } });
    expect(lines.map((l) => l.context.n)).toEqual(Array.from({ length: next }, (_, i) => i));
    expect(lines.map((l) => l.decisionId)).toEqual(decisionIds);
  });
});
