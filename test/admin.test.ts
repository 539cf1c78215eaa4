import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { callerKeys } from '../src/caller/keys.js';
import { policySetCandidates } from '../src/decision/candidates.js';
import { SearchService } from '../src/decision/search.js';
import { DecisionService } from '../src/decision/service.js';
import { createApp } from '../src/http/app.js';
import { loadPolicyDir } from '../src/policy/load.js';
import { PolicyReloader, type ReloadLog } from '../src/policy/reload.js';
import { PolicyStore } from '../src/policy/store.js';
import { postJson, readJson } from './helpers/app.js';
import { docPolicy, tempDir, versionOf, writeFiles, writeFilesNow } from './helpers/policy-dir.js';

const key = 'admin-key-0123456789abcdef';
const otherKey = 'second-admin-key-fedcba9876543210';
const auth = { authorization: `Bearer ${key}` };

async function buildAdminApp(dir: string, options: { keys?: readonly string[]; runTests?: boolean; log?: ReloadLog; clock?: () => Date } = {}) {
  const policies = new PolicyStore(await loadPolicyDir(dir));
  const reloader = new PolicyReloader({ dir, store: policies, runTests: options.runTests, log: options.log, clock: options.clock });
  const decisions = new DecisionService({ policies, tokens: undefined });
  const search = new SearchService({ decisions, candidates: policySetCandidates(policies) });
  const callers = callerKeys({ api: [], trusted: [], admin: options.keys ?? [key] });
  const app = createApp({ decisions, policies, search, callers, admin: { policies, reloader } });
  return { app, policies };
}

const reader = { subject: { id: 'u1' }, action: 'read', resource: { type: 'doc' } };

/** A fresh policy directory for each test, holding `docs` (rule `read-all`). */
let dir: { path: string; remove: () => Promise<void> };
beforeEach(async () => {
  dir = await tempDir();
  await writeFiles(dir.path, { 'docs.json': docPolicy('docs', 'read-all') });
});
afterEach(async () => dir.remove());

describe('admin endpoints', () => {
  describe('authentication', () => {
    it('answers 404 on every admin path when no admin key is configured', async () => {
      const { app } = await buildAdminApp(dir.path, { keys: [] });
      expect((await app.request('/admin/policies', { headers: auth })).status).toBe(404);
      expect((await app.request('/admin/policies/reload', { method: 'POST', headers: auth })).status).toBe(404);
    });

    it('answers 401 problem+json with a Bearer challenge without a key, with a wrong key, or another scheme', async () => {
      const { app } = await buildAdminApp(dir.path);
      const attempts: Record<string, string>[] = [{}, { authorization: 'Bearer wrong-key-0123456789' }, { authorization: `Basic ${key}` }, { authorization: `Bearer ${key}x` }];
      for (const headers of attempts) {
        for (const [path, method] of [['/admin/policies', 'GET'], ['/admin/policies/reload', 'POST']] as const) {
          const res = await app.request(path, { method, headers });
          expect(res.status).toBe(401);
          expect(res.headers.get('content-type')).toBe('application/problem+json');
          expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
          const sent = headers.authorization?.startsWith('Bearer ') === true;
          expect(await readJson(res)).toMatchObject({
            status: 401,
            type: 'urn:invoice-pdp:problem:unauthenticated',
            detail: sent ? 'the admin key is not accepted' : 'send an admin key (PDP_ADMIN_KEYS) as "Authorization: Bearer <key>"',
            errors: [{ path: 'Authorization', message: sent ? 'not an accepted admin key' : 'required: Bearer and an admin key' }],
          });
        }
      }
    });

    it('accepts any configured key, given plain or as sha256:<hex>', async () => {
      const hashed = `sha256:${createHash('sha256').update(otherKey).digest('hex')}`;
      const { app } = await buildAdminApp(dir.path, { keys: [key, hashed] });
      expect((await app.request('/admin/policies', { headers: auth })).status).toBe(200);
      expect((await app.request('/admin/policies', { headers: { authorization: `Bearer ${otherKey}` } })).status).toBe(200);
      expect((await app.request('/admin/policies', { headers: { authorization: `Bearer ${hashed}` } })).status).toBe(401);
    });
  });

  it('GET /admin/policies lists the policies, their rules, version and load time', async () => {
    const { app, policies } = await buildAdminApp(dir.path);
    const res = await app.request('/admin/policies', { headers: auth });
    expect(res.status).toBe(200);
    expect(await readJson(res)).toEqual({
      version: policies.current.set.version,
      loadedAt: policies.current.loadedAt.toISOString(),
      rules: 1,
      policies: [docPolicy('docs', 'read-all')],
      lastReloadError: null,
    });
  });

  it('GET /admin/policies lists a policy without the $schema link its file carries for editors', async () => {
    await writeFiles(dir.path, { 'docs.json': { $schema: './policy.schema.json', ...docPolicy('docs', 'read-all') } });
    const { app } = await buildAdminApp(dir.path);
    expect((await readJson(await app.request('/admin/policies', { headers: auth }))).policies).toEqual([docPolicy('docs', 'read-all')]);
  });

  it('POST /admin/policies/reload swaps in the new set and answers 200 with its version', async () => {
    const { app } = await buildAdminApp(dir.path);
    const before = await readJson(await postJson(app, '/decide', reader));
    await writeFiles(dir.path, { 'docs.json': docPolicy('docs', 'read-all-v2'), 'more.json': docPolicy('more', 'read-more') });
    const res = await app.request('/admin/policies/reload', { method: 'POST', headers: auth });
    expect(res.status).toBe(200);
    const body = await readJson(res);
    expect(body).toMatchObject({ previousVersion: before.policyVersion, changed: true, rules: 2 });
    expect(body.version).not.toBe(before.policyVersion);
    const after = await readJson(await postJson(app, '/decide', reader));
    expect(after.policyVersion).toBe(body.version);
    expect(after.reasons).toEqual([
      { policy: 'docs', rule: 'read-all-v2', effect: 'permit' },
      { policy: 'more', rule: 'read-more', effect: 'permit' },
    ]);

    const again = await readJson(await app.request('/admin/policies/reload', { method: 'POST', headers: auth }));
    expect(again).toMatchObject({ version: body.version, previousVersion: body.version, changed: false });
  });

  it('POST /admin/policies/reload of files that compile to the version serving keeps its load time', async () => {
    let tick = Date.parse('2026-01-01T00:00:00Z');
    const { app } = await buildAdminApp(dir.path, { clock: () => new Date((tick += 1_000)) });
    const listed = async () => readJson(await app.request('/admin/policies', { headers: auth }));
    const before = await listed();
    const res = await app.request('/admin/policies/reload', { method: 'POST', headers: auth });
    expect(await readJson(res)).toMatchObject({ changed: false, loadedAt: before.loadedAt });
    expect((await listed()).loadedAt).toBe(before.loadedAt);
  });

  it('POST /admin/policies/reload answers 422 with file, rule and reason, and the last good set keeps serving', async () => {
    const { app, policies } = await buildAdminApp(dir.path);
    const good = policies.current.set.version;
    await writeFiles(dir.path, {
      'docs.json': docPolicy('docs', 'read-all', { condition: 'resource.properties.size +' }),
      'broken.json': '{ "id": ',
    });
    const res = await app.request('/admin/policies/reload', { method: 'POST', headers: auth });
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const problem = await readJson(res);
    expect(problem).toMatchObject({ type: 'urn:invoice-pdp:problem:policy_invalid', status: 422 });
    expect(problem.detail).toContain(good);
    expect(problem.errors).toEqual([
      { file: 'broken.json', path: '$', message: expect.stringContaining('not valid JSON') },
      { file: 'docs.json', path: '$.rules[0].condition', rule: 'read-all', message: expect.stringContaining('syntax') },
    ]);

    const decided = await readJson(await postJson(app, '/decide', reader));
    expect(decided).toMatchObject({ decision: 'permit', policyVersion: good });

    const listing = await readJson(await app.request('/admin/policies', { headers: auth }));
    expect(listing.version).toBe(good);
    expect(listing.lastReloadError).toMatchObject({ trigger: 'admin', issues: problem.errors });

    await writeFiles(dir.path, { 'broken.json': docPolicy('other', 'r') });
    const compileError = await readJson(await app.request('/admin/policies/reload', { method: 'POST', headers: auth }));
    expect(compileError.errors).toEqual([
      expect.objectContaining({ file: 'docs.json', path: '$.rules[0].condition', rule: 'read-all', message: expect.stringContaining('syntax') }),
    ]);

    await writeFiles(dir.path, { 'docs.json': docPolicy('docs', 'read-all') });
    expect((await app.request('/admin/policies/reload', { method: 'POST', headers: auth })).status).toBe(200);
    expect((await readJson(await app.request('/admin/policies', { headers: auth }))).lastReloadError).toBeNull();
  });

  it('logs every admin reload, applied, unchanged or rejected, with the caller fingerprint and the request id', async () => {
    const lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
    const log: ReloadLog = {
      info: (fields, message) => lines.push({ level: 'info', fields: { ...fields }, message }),
      error: (fields, message) => lines.push({ level: 'error', fields: { ...fields }, message }),
    };
    const { app } = await buildAdminApp(dir.path, { log });
    const caller = callerKeys({ api: [], trusted: [], admin: [key] }).admin.match(key);
    expect(caller).toMatch(/^key-[0-9a-f]{12}$/);
    const reload = (requestId: string) => app.request('/admin/policies/reload', { method: 'POST', headers: { ...auth, 'x-request-id': requestId } });

    expect((await reload('reload-unchanged')).status).toBe(200);
    await writeFiles(dir.path, { 'docs.json': docPolicy('docs', 'read-all-v2') });
    expect((await reload('reload-applied')).status).toBe(200);
    await writeFiles(dir.path, { 'broken.json': '{ "id": ' });
    expect((await reload('reload-rejected')).status).toBe(422);

    expect(lines.map(({ level, fields, message }) => ({ level, message, trigger: fields['trigger'], caller: fields['caller'], requestId: fields['requestId'] }))).toEqual([
      { level: 'info', message: 'policies unchanged', trigger: 'admin', caller, requestId: 'reload-unchanged' },
      { level: 'info', message: 'policies reloaded', trigger: 'admin', caller, requestId: 'reload-applied' },
      { level: 'error', message: expect.stringContaining('rejected'), trigger: 'admin', caller, requestId: 'reload-rejected' },
    ]);
    expect(JSON.stringify(lines)).not.toContain(key);
  });

  it('names every admin request in the log when concurrent requests share one reload', async () => {
    const lines: Record<string, unknown>[] = [];
    const log: ReloadLog = { info: (fields) => lines.push({ ...fields }), error: (fields) => lines.push({ ...fields }) };
    const { app } = await buildAdminApp(dir.path, { log });
    const caller = callerKeys({ api: [], trusted: [], admin: [key] }).admin.match(key);
    const ids = ['concurrent-1', 'concurrent-2', 'concurrent-3'];
    const answers = await Promise.all(ids.map((id) => app.request('/admin/policies/reload', { method: 'POST', headers: { ...auth, 'x-request-id': id } })));
    expect(answers.map((res) => res.status)).toEqual([200, 200, 200]);
    for (const requestId of ids) expect(lines).toContainEqual(expect.objectContaining({ trigger: 'admin', caller, requestId }));
  });

  it('with tests on reload, rejects a set whose test cases fail (422 naming the case)', async () => {
    await writeFiles(dir.path, {
      'tests/docs.json': { cases: [{ name: 'anyone reads', request: reader, expect: { decision: 'permit' } }] },
    });
    const { app, policies } = await buildAdminApp(dir.path, { runTests: true });
    const good = policies.current.set.version;
    await writeFiles(dir.path, { 'docs.json': { id: 'docs', resource: 'doc', rules: [{ id: 'no-read', effect: 'deny', actions: ['read'] }] } });
    const res = await app.request('/admin/policies/reload', { method: 'POST', headers: auth });
    expect(res.status).toBe(422);
    expect((await readJson(res)).errors).toEqual([
      expect.objectContaining({ file: 'tests/docs.json', path: '$.cases[0]', message: expect.stringContaining('"anyone reads" failed') }),
    ]);
    expect((await readJson(await postJson(app, '/decide', reader))).policyVersion).toBe(good);
  });
});

describe('a reload whose log throws', () => {
  it('answers with the outcome of the load, and the reloads after it still run', async () => {
    const log: ReloadLog = {
      info: () => { throw new Error('log closed'); },
      error: () => { throw new Error('log closed'); },
    };
    const { app } = await buildAdminApp(dir.path, { log });
    for (const rule of ['read-all-v2', 'read-all-v3']) {
      const next = { 'docs.json': docPolicy('docs', rule) };
      await writeFiles(dir.path, next);
      const res = await app.request('/admin/policies/reload', { method: 'POST', headers: auth });
      expect(res.status).toBe(200);
      expect(await readJson(res)).toMatchObject({ version: await versionOf(next), changed: true });
    }
    await writeFiles(dir.path, { 'docs.json': '{' });
    expect((await app.request('/admin/policies/reload', { method: 'POST', headers: auth })).status).toBe(422);
  });
});

describe('reloads asked for together', () => {
  async function reloaderLogging(): Promise<{ reloader: PolicyReloader; outcomes: string[] }> {
    const outcomes: string[] = [];
    const log: ReloadLog = { info: (_fields, message) => outcomes.push(message), error: (_fields, message) => outcomes.push(message) };
    return { reloader: new PolicyReloader({ dir: dir.path, store: new PolicyStore(await loadPolicyDir(dir.path)), log }), outcomes };
  }

  it('share one reload when asked for before it starts', async () => {
    const { reloader, outcomes } = await reloaderLogging();
    const results = await Promise.all([reloader.reload('signal'), reloader.reload('watch'), reloader.reload('signal')]);
    expect(outcomes).toEqual(['policies unchanged']);
    expect(new Set(results).size).toBe(1);
  });

  it('run one more reload after the running one for a request made while it runs, reading the files as they are by then', async () => {
    const { reloader, outcomes } = await reloaderLogging();
    const running = reloader.reload('signal');
    // A turn of the event loop: the first reload has started and is reading the directory.
    await new Promise((turned) => setImmediate(turned));
    const next = { 'docs.json': docPolicy('docs', 'read-all-v2') };
    writeFilesNow(dir.path, next);
    const after = await reloader.reload('signal');
    await running;
    expect(after).toMatchObject({ ok: true, version: await versionOf(next) });
    expect(outcomes).toHaveLength(2);
  });
});
