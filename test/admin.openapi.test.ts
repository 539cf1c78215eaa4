import { cp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { callerKeys } from '../src/caller/keys.js';
import { buildTestApp, defaultPolicyDir } from './helpers/app.js';
import { loadContract, openapiPath, type Contract } from './helpers/openapi.js';
import { tempDir } from './helpers/tmp.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

interface HeaderDoc {
  readonly schema?: { readonly enum?: readonly string[] };
}
interface ResponseDoc {
  readonly $ref?: string;
  readonly headers?: Readonly<Record<string, HeaderDoc>>;
}
interface Spec {
  readonly paths: Record<string, Record<string, { readonly responses: Record<string, ResponseDoc> }>>;
  readonly components: {
    readonly responses: Record<string, ResponseDoc>;
    readonly schemas: { readonly Problem: { readonly properties: { readonly errors: { readonly items: { readonly properties: { readonly file: { readonly description: string } } } } } } };
  };
}

const adminKey = 'admin-key-0123456789abcdef';
const maxBodyBytes = 1024;
const operations = [['GET', '/admin/policies'], ['POST', '/admin/policies/reload']] as const;

/** The header `name` a documented response declares, following a `$ref` to a shared response. */
function declaredHeader(spec: Spec, method: string, path: string, status: string, name: string): HeaderDoc | undefined {
  let response = spec.paths[path]?.[method.toLowerCase()]?.responses[status];
  const ref = response?.$ref?.replace('#/components/responses/', '');
  if (ref !== undefined) response = spec.components.responses[ref];
  const headers = Object.entries(response?.headers ?? {});
  return headers.find(([header]) => header.toLowerCase() === name)?.[1];
}

describe('openapi.yaml describes every answer of the admin endpoints', () => {
  let app: App;
  let contract: Contract;
  let spec: Spec;
  beforeAll(async () => {
    ({ app } = await buildTestApp({ app: { callers: callerKeys({ api: [], trusted: [], admin: [adminKey] }), maxBodyBytes } }));
    contract = await loadContract();
    spec = parse(await readFile(openapiPath, 'utf8')) as Spec;
  });

  it.each(operations)('%s %s: the 401 declares the WWW-Authenticate challenge it sends', async (method, path) => {
    for (const authorization of [undefined, 'Bearer not-an-admin-key-0123456789']) {
      const res = await app.request(path, { method, headers: authorization === undefined ? {} : { authorization } });
      expect(res.status).toBe(401);
      expect(await contract.check(method, path, res)).toEqual([]);
      const challenge = declaredHeader(spec, method, path, '401', 'www-authenticate');
      expect(challenge?.schema?.enum ?? []).toContain(res.headers.get('www-authenticate'));
    }
  });

  it('POST /admin/policies/reload: a Content-Length over MAX_BODY_BYTES is the documented 413', async () => {
    const res = await app.request('/admin/policies/reload', {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: `"${'x'.repeat(maxBodyBytes)}"`,
    });
    expect(res.status).toBe(413);
    expect(await contract.check('POST', '/admin/policies/reload', res)).toEqual([]);
  });

  it('POST /admin/policies/reload: a directory holding no policy is the documented 422, at POLICY_DIR itself', async () => {
    const dir = await tempDir();
    await cp(defaultPolicyDir, dir, { recursive: true });
    const { app: own } = await buildTestApp({ policyDir: dir, app: { callers: callerKeys({ api: [], trusted: [], admin: [adminKey] }) } });
    const reload = () => own.request('/admin/policies/reload', { method: 'POST', headers: { authorization: `Bearer ${adminKey}` } });
    await rm(join(dir, 'invoices.json'));
    const empty = await reload();
    expect(empty.status).toBe(422);
    expect(await contract.check('POST', '/admin/policies/reload', empty.clone())).toEqual([]);
    expect(await empty.json()).toMatchObject({ errors: [{ file: dir, path: '$', message: 'no policy files (*.json) found' }] });
    const description = spec.components.schemas.Problem.properties.errors.items.properties.file.description;
    expect(description).toContain('POLICY_DIR itself');
  });
});
