import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callerKeys } from '../src/caller/keys.js';
import { policySetCandidates } from '../src/decision/candidates.js';
import { SearchService } from '../src/decision/search.js';
import { DecisionService } from '../src/decision/service.js';
import { createApp } from '../src/http/app.js';
import { loadPolicyDir } from '../src/policy/load.js';
import { PolicyReloader } from '../src/policy/reload.js';
import { PolicyStore } from '../src/policy/store.js';
import { postJson } from './helpers/app.js';
import { docPolicy, tempDir, writeFiles } from './helpers/policy-dir.js';

const key = 'contract-admin-key-0123456789';
const auth = { authorization: `Bearer ${key}` };

describe('openapi.yaml describes the admin and explain answers', () => {
  let validate: (name: string, value: unknown) => string[];
  let dir: { path: string; remove: () => Promise<void> };
  let app: ReturnType<typeof createApp>;

  beforeAll(async () => {
    const doc = parse(await readFile(resolve(import.meta.dirname, '../openapi.yaml'), 'utf8')) as object;
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    ajv.addSchema(doc, 'openapi');
    validate = (name, value) => {
      const check = ajv.compile({ $ref: `openapi#/components/schemas/${name}` });
      return check(value) ? [] : (check.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`);
    };
    dir = await tempDir();
    await writeFiles(dir.path, { 'docs.json': docPolicy('docs', 'read-all', { condition: 'resource.properties.open == true' }) });
    const policies = new PolicyStore(await loadPolicyDir(dir.path));
    const reloader = new PolicyReloader({ dir: dir.path, store: policies });
    const decisions = new DecisionService({ policies, tokens: undefined });
    const search = new SearchService({ decisions, candidates: policySetCandidates(policies) });
    const callers = callerKeys({ api: [], trusted: [], admin: [key] });
    app = createApp({ decisions, policies, search, callers, admin: { policies, reloader } });
  });
  afterAll(async () => dir.remove());

  it('Decision with explain', async () => {
    const res = await postJson(app, '/decide?explain=true', { subject: { id: 'u' }, action: 'read', resource: { type: 'doc' } });
    const body = await res.json();
    expect(body).toHaveProperty('explain');
    expect(validate('Decision', body)).toEqual([]);
  });

  it('PolicyListing, ReloadResult and the 422 Problem', async () => {
    expect(validate('PolicyListing', await (await app.request('/admin/policies', { headers: auth })).json())).toEqual([]);
    expect(validate('ReloadResult', await (await app.request('/admin/policies/reload', { method: 'POST', headers: auth })).json())).toEqual([]);
    await writeFiles(dir.path, { 'docs.json': docPolicy('docs', 'read-all', { condition: 'nope(' }) });
    const rejected = await app.request('/admin/policies/reload', { method: 'POST', headers: auth });
    expect(rejected.status).toBe(422);
    expect(validate('Problem', await rejected.json())).toEqual([]);
    const listing = await (await app.request('/admin/policies', { headers: auth })).json();
    expect(listing).toHaveProperty('lastReloadError.issues');
    expect(validate('PolicyListing', listing)).toEqual([]);
    expect(validate('ExplainEntry', { policy: 'p', rule: 'r', effect: 'permit', applied: 'yes' })).not.toEqual([]);
  });
});
