import { cp } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callerKeys } from '../src/caller/keys.js';
import { policySetCandidates } from '../src/decision/candidates.js';
import { SearchService } from '../src/decision/search.js';
import { DecisionService } from '../src/decision/service.js';
import { createApp } from '../src/http/app.js';
import { loadPolicyDir } from '../src/policy/load.js';
import { PolicyReloader } from '../src/policy/reload.js';
import { PolicyStore } from '../src/policy/store.js';
import type { TokenVerifier } from '../src/token/verify.js';
import { defaultPolicyDir, postJson, readJson } from './helpers/app.js';
import { docPolicy, tempDir, writeFiles } from './helpers/policy-dir.js';

// A reload is not a decision: REQUEST_TIMEOUT_MS (as short as 10 ms) bounds decisions, and
// answered a reload that went through (or a rejected set's 422) with 503 `timeout`.

const requestTimeoutMs = 10;
const key = 'admin-key-0123456789abcdef';
const auth = { authorization: `Bearer ${key}` };

/** Enough policies that a reload with its tests takes several times the decision deadline. */
function manyPolicies(version: string): Record<string, unknown> {
  const files: Record<string, unknown> = {};
  for (let i = 0; i < 200; i++) files[`doc-${i}.json`] = docPolicy(`doc-${i}`, `read-${i}-${version}`);
  return files;
}

/** A token verifier that answers too late for any decision deadline. */
const stalledTokens: TokenVerifier = { verify: () => new Promise(() => undefined) };

describe('the admin endpoints with a REQUEST_TIMEOUT_MS shorter than a reload', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let app: ReturnType<typeof createApp>;

  beforeAll(async () => {
    dir = await tempDir('pdp-admin-deadline-');
    await cp(defaultPolicyDir, dir.path, { recursive: true });
    await writeFiles(dir.path, manyPolicies('v1'));
    const policies = new PolicyStore(await loadPolicyDir(dir.path));
    const reloader = new PolicyReloader({ dir: dir.path, store: policies, runTests: true });
    const decisions = new DecisionService({ policies, tokens: stalledTokens });
    const search = new SearchService({ decisions, candidates: policySetCandidates(policies) });
    const callers = callerKeys({ api: [], trusted: [], admin: [key] });
    app = createApp({ decisions, policies, search, callers, admin: { policies, reloader }, requestTimeoutMs });
  });
  afterAll(async () => dir.remove());

  const reload = async () => {
    const started = performance.now();
    const res = await app.request('/admin/policies/reload', { method: 'POST', headers: auth });
    return { res, ms: performance.now() - started };
  };

  it('answers a reload that runs the policy tests 200 with the new version', async () => {
    const before = await readJson(await app.request('/readyz'));
    await writeFiles(dir.path, manyPolicies('v2'));
    const { res, ms } = await reload();
    expect(res.status).toBe(200);
    // The reload outlasted the decision deadline and its tick: the deadline was put to the test.
    expect(ms).toBeGreaterThan(requestTimeoutMs * 2);
    const body = await readJson(res);
    expect(body).toMatchObject({ previousVersion: (before.policies as { version: string }).version, changed: true });
    expect((await readJson(await app.request('/readyz'))).policies).toMatchObject({ version: body.version });
  });

  it('answers a broken set 422 with its problems, not 503', async () => {
    await writeFiles(dir.path, { 'broken.json': '{ "id": ' });
    const { res, ms } = await reload();
    expect(res.status).toBe(422);
    expect(ms).toBeGreaterThan(requestTimeoutMs * 2);
    expect(await readJson(res)).toMatchObject({
      type: 'urn:invoice-pdp:problem:policy_invalid',
      errors: [{ file: 'broken.json', path: '$', message: expect.stringContaining('not valid JSON') }],
    });
  });

  it('still answers a decision that outlasts REQUEST_TIMEOUT_MS 503 timeout', async () => {
    const res = await postJson(app, '/decide', { token: 'a.b.c', action: 'read', resource: { type: 'invoice' } });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await readJson(res)).toMatchObject({ type: 'urn:invoice-pdp:problem:timeout', detail: `no answer within ${requestTimeoutMs} ms` });
  });
});
