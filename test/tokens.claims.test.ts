import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import type { DecisionService } from '../src/decision/service.js';
import { claimAt, claimsToSubject } from '../src/token/claims.js';
import { tokensFromConfig, type Tokens } from '../src/token/from-config.js';
import { buildTestApp } from './helpers/app.js';
import { startIntrospectionServer, type IntrospectionServer } from './helpers/introspection-server.js';
import { jwks, sign, signingKey, type SigningKey } from './helpers/signing.js';

const question = { action: { name: 'read', properties: {} }, resource: { type: 'invoice', properties: {} }, context: {} };

/** The identity providers of the README's examples, with the claims each puts in an access token. */
const providers = {
  keycloak: {
    issuer: 'https://sso.example.com/realms/acme',
    audience: 'invoice-api',
    claims: { roles: ['realm_access.roles', 'resource_access.invoice-api.roles'] },
    token: {
      sub: 'f:1b2c:alice',
      scope: 'openid invoice.read',
      realm_access: { roles: ['offline_access', 'accountant'] },
      resource_access: { 'invoice-api': { roles: ['approver'] }, account: { roles: ['manage-account'] } },
    },
    expected: { id: 'f:1b2c:alice', roles: ['offline_access', 'accountant', 'approver'], scopes: ['openid', 'invoice.read'] },
  },
  auth0: {
    issuer: 'https://acme.eu.auth0.com/',
    audience: 'https://invoice-api.example.com',
    claims: { roles: ['https://invoice.example.com/roles', 'permissions'] },
    token: { sub: 'auth0|42', scope: 'invoice.read invoice.write', 'https://invoice.example.com/roles': ['accountant'], permissions: ['read:invoices'] },
    expected: { id: 'auth0|42', roles: ['accountant', 'read:invoices'], scopes: ['invoice.read', 'invoice.write'] },
  },
  entra: {
    issuer: 'https://login.microsoftonline.com/0000-tenant/v2.0',
    audience: 'api://invoice-api',
    claims: { subject: 'oid', roles: ['roles', 'groups'], rolePrefixes: ['Invoice.'] },
    token: { sub: 'pairwise-sub', oid: '7f0e-oid', scp: 'invoice.read', roles: ['Invoice.Accountant'], groups: ['a1b2-group'] },
    expected: { id: '7f0e-oid', roles: ['Accountant', 'a1b2-group'], scopes: ['invoice.read'] },
  },
  okta: {
    issuer: 'https://acme.okta.com/oauth2/default',
    audience: 'api://invoice',
    claims: { roles: ['groups'] },
    token: { sub: '00u1abcd', uid: '00u1abcd', scp: ['invoice.read', 'openid'], groups: ['Accountants'] },
    expected: { id: '00u1abcd', roles: ['Accountants'], scopes: ['invoice.read', 'openid'] },
  },
  cognito: {
    issuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc',
    audience: 'client-123',
    audienceClaim: 'client_id',
    claims: { roles: ['cognito:groups'], rolePrefixes: ['invoice-'] },
    token: { sub: 'c0ffee', client_id: 'client-123', token_use: 'access', scope: 'invoice-api/invoice.read', 'cognito:groups': ['invoice-accountant', 'everyone'] },
    expected: { id: 'c0ffee', roles: ['accountant', 'everyone'], scopes: ['invoice-api/invoice.read'] },
  },
} as const;

describe('claim mapping per issuer (TOKEN_CONFIG_FILE) and by default (CLAIM_* env)', () => {
  let dir: string;
  let key: SigningKey;
  let tokens: Tokens;
  let decisions: DecisionService;
  let introspection: IntrospectionServer;

  beforeAll(async () => {
    [key, introspection] = await Promise.all([signingKey('k1'), startIntrospectionServer()]);
    dir = await mkdtemp(join(tmpdir(), 'pdp-claims-'));
    await writeFile(join(dir, 'keys.json'), JSON.stringify(jwks(key)));
    await writeFile(
      join(dir, 'tokens.json'),
      JSON.stringify({
        issuers: Object.values(providers).map((p) => ({ jwksFile: 'keys.json', ...p, token: undefined, expected: undefined })),
      }),
    );
    tokens = await tokensFromConfig(
      loadConfig({
        TOKEN_CONFIG_FILE: join(dir, 'tokens.json'),
        JWKS_FILE: join(dir, 'keys.json'),
        JWT_ISSUER: 'https://plain.example.com/',
        JWT_AUDIENCE: 'invoice-api',
        CLAIM_ROLES: 'groups, roles',
        CLAIM_ROLE_PREFIXES: 'ROLE_',
        INTROSPECTION_URL: introspection.url,
        INTROSPECTION_CLIENT_ID: introspection.clientId,
        INTROSPECTION_CLIENT_SECRET: introspection.clientSecret,
      }),
    );
    ({ decisions } = await buildTestApp({ tokens: tokens.verifier, claims: tokens.claims }));
  });
  afterAll(async () => {
    tokens.close();
    await Promise.all([introspection.close(), rm(dir, { recursive: true, force: true })]);
  });

  const subjectOf = async (token: string) => (await decisions.decide({ subject: { token }, ...question })).subject;

  it.each(Object.keys(providers) as (keyof typeof providers)[])('maps %s tokens as the README shows', async (name) => {
    const p = providers[name];
    const audience = 'audienceClaim' in p ? undefined : p.audience;
    const subject = await subjectOf(await sign(key, p.token, { issuer: p.issuer, audience }));
    expect(subject).toMatchObject({ type: 'user', ...p.expected });
    expect(subject?.properties).toMatchObject({ exp: expect.any(Number), iss: p.issuer });
  });

  it('checks the audience in the configured claim (Cognito: client_id, no aud)', async () => {
    const p = providers.cognito;
    // Another client, and ones whose id holds, starts like or differs in case from the one configured.
    for (const clientId of ['another-client', 'client-1234', 'client-12', 'CLIENT-123', ['client-1234']]) {
      const other = await sign(key, { ...p.token, client_id: clientId }, { issuer: p.issuer });
      const outcome = await decisions.decide({ subject: { token: other }, ...question });
      expect(outcome.reasons, JSON.stringify(clientId)).toEqual([{ code: 'invalid_token', detail: 'claim "client_id" invalid: check_failed' }]);
    }
  });

  it('reads an audienceClaim that is a dotted path as the claims mapping reads its paths, a whole name holding dots first', async () => {
    const issuer = 'https://nested.example.com/';
    await writeFile(join(dir, 'nested.json'), JSON.stringify({ issuers: [{ issuer, jwksFile: 'keys.json', audience: 'client-123', audienceClaim: 'ext.client_id' }] }));
    const nested = await tokensFromConfig(loadConfig({ TOKEN_CONFIG_FILE: join(dir, 'nested.json') }));
    try {
      const inPath = await sign(key, { sub: 'u', ext: { client_id: 'client-123' } }, { issuer });
      await expect(nested.verifier.verify(inPath)).resolves.toMatchObject({ sub: 'u' });
      const whole = await sign(key, { sub: 'u', 'ext.client_id': 'client-123', ext: { client_id: 'another-client' } }, { issuer });
      await expect(nested.verifier.verify(whole)).resolves.toMatchObject({ sub: 'u' });
      const other = await sign(key, { sub: 'u', ext: { client_id: 'another-client' } }, { issuer });
      await expect(nested.verifier.verify(other)).rejects.toThrow('claim "ext.client_id" invalid: check_failed');
    } finally {
      nested.close();
    }
  });

  it('maps an issuer without its own mapping with the CLAIM_* defaults', async () => {
    const token = await sign(key, { sub: 'bob', groups: ['ROLE_accountant'], roles: 'ROLE_clerk auditor', scp: ['invoice.read'] }, { issuer: 'https://plain.example.com/', audience: 'invoice-api' });
    expect(await subjectOf(token)).toMatchObject({ id: 'bob', roles: ['accountant', 'clerk', 'auditor'], scopes: ['invoice.read'] });
  });

  it('takes what an issuer entry\'s claims leave out from the CLAIM_* settings, and scopes from both scope and scp', async () => {
    const p = providers.keycloak;
    const token = await sign(key, { ...p.token, realm_access: { roles: ['ROLE_auditor'] }, groups: ['ROLE_clerk'], roles: ['clerk'], scope: 'openid invoice.read', scp: ['invoice.write', 'openid'] }, { issuer: p.issuer, audience: p.audience });
    // Its roles by its own paths, cut by CLAIM_ROLE_PREFIXES; `groups` and `roles` (CLAIM_ROLES) are not read.
    expect(await subjectOf(token)).toMatchObject({ id: p.token.sub, roles: ['auditor', 'approver'], scopes: ['openid', 'invoice.read', 'invoice.write'] });
  });

  it('maps an introspection answer by the entry of the issuer its iss names, one without iss by the CLAIM_* settings', async () => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    const p = providers.entra;
    introspection.answer('opaque-entra', { body: { active: true, exp, iss: p.issuer, ...p.token } });
    introspection.answer('opaque-unnamed', { body: { active: true, exp, ...p.token } });
    expect(await subjectOf('opaque-entra')).toMatchObject({ type: 'user', ...p.expected });
    expect(await subjectOf('opaque-unnamed')).toMatchObject({ id: p.token.sub, roles: ['a1b2-group', 'Invoice.Accountant'], scopes: ['invoice.read'] });
  });

  it('denies an introspection answer whose subject claim is blank, as one without it', async () => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    introspection.answer('opaque-blank', { body: { active: true, exp, sub: '\u00a0 ', roles: ['accountant'] } });
    const outcome = await decisions.decide({ subject: { token: 'opaque-blank' }, ...question });
    expect(outcome.reasons).toEqual([{ code: 'invalid_token', detail: expect.stringMatching(/^token names no subject/) }]);
  });

  it('splits scope and role strings on spaces only (RFC 6749 §3.3): another whitespace character joins names', async () => {
    const token = await sign(key, { sub: 'bob', roles: 'auditor\u2003ROLE_accountant', scope: 'x\u00a0invoice.read y\ninvoice.write invoice.list' }, { issuer: 'https://plain.example.com/', audience: 'invoice-api' });
    expect(await subjectOf(token)).toMatchObject({ roles: ['auditor\u2003ROLE_accountant'], scopes: ['x\u00a0invoice.read', 'y\ninvoice.write', 'invoice.list'] });
  });

  it('takes an empty or blank role or scope from a list as from a string: as none, where a condition counting roles would count it', async () => {
    const issuer = { issuer: 'https://plain.example.com/', audience: 'invoice-api' };
    const fromLists = await sign(key, { sub: 'bob', roles: ['', 'x', ' ', '\u200b', '\t'], scp: ['', 'a', '\u00a0'] }, issuer);
    expect(await subjectOf(fromLists)).toMatchObject({ roles: ['x'], scopes: ['a'] });
    const fromStrings = await sign(key, { sub: 'bob', roles: 'x  \u200b \t', scp: ' a \u00a0 ' }, issuer);
    expect(await subjectOf(fromStrings)).toMatchObject({ roles: ['x'], scopes: ['a'] });
    // Nothing but blanks: no role at all, so `size(subject.roles) > 0` is false.
    expect(await subjectOf(await sign(key, { sub: 'bob', roles: ['', ' '], groups: [''] }, issuer))).toMatchObject({ roles: [], scopes: [] });
    // A role that only a prefix (CLAIM_ROLE_PREFIXES=ROLE_) and blanks make keeps the prefix, as `ROLE_` alone does.
    expect(await subjectOf(await sign(key, { sub: 'bob', groups: ['ROLE_ ', 'ROLE_', 'ROLE_\u200bx'] }, issuer))).toMatchObject({ roles: ['ROLE_ ', 'ROLE_', '\u200bx'] });
  });

  it('keeps a list item holding a space whole: one group of the issuer, never the roles its words would name', async () => {
    const token = await sign(key, { sub: 'bob', groups: ['Finance Team', 'ROLE_Invoice Approvers'], scp: ['invoice.read invoice.write'] }, { issuer: 'https://plain.example.com/', audience: 'invoice-api' });
    expect(await subjectOf(token)).toMatchObject({ roles: ['Finance Team', 'Invoice Approvers'], scopes: ['invoice.read invoice.write'] });
  });

  it('applies the default mapping to claims a trusted caller sends', async () => {
    const outcome = await decisions.decide({ subject: { id: 'carol', claims: { groups: ['ROLE_accountant'] } }, ...question });
    expect(outcome.subject).toMatchObject({ id: 'carol', roles: ['accountant'] });
  });

  it('refuses a configuration that lists one issuer twice, naming it', async () => {
    await writeFile(join(dir, 'twice.json'), JSON.stringify({ issuers: [{ issuer: 'https://plain.example.com/', jwksFile: 'keys.json', audience: 'x' }] }));
    const config = loadConfig({ TOKEN_CONFIG_FILE: join(dir, 'twice.json'), JWKS_FILE: join(dir, 'keys.json'), JWT_ISSUER: 'https://plain.example.com/', JWT_AUDIENCE: 'x' });
    await expect(tokensFromConfig(config)).rejects.toThrow(/https:\/\/plain\.example\.com\/ is configured twice/);
  });

  it('says where a token configuration file is not JSON without quoting it: it holds key set URLs and their secrets', async () => {
    await writeFile(join(dir, 'broken.json'), '{"issuers": [{"issuer": "a", "jwksUrl": https://keys.example/jwks?api_key=SECRET-KEY-VALUE}]}');
    const failure = await tokensFromConfig(loadConfig({ TOKEN_CONFIG_FILE: join(dir, 'broken.json') })).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ConfigError);
    expect((failure as Error).message).toBe(`TOKEN_CONFIG_FILE ${join(dir, 'broken.json')}: not valid JSON at line 1, column 41: a bare word where a value should be: JSON's words are true, false and null, and its strings are in double quotes`);
  });

  it('refuses a token configuration file that is not UTF-8, or starts with a byte order mark, as a policy file is', async () => {
    // Saved as Latin-1, `facturación` was read as `facturaci\u{fffd}n`: an audience no token names, so every token was denied.
    const latin1 = Buffer.concat([Buffer.from('{"issuers": [{"issuer": "https://a.example/", "jwksFile": "keys.json",\n"audience": "facturaci'), Buffer.from([0xf3]), Buffer.from('n"}]}')]);
    await writeFile(join(dir, 'latin1.json'), latin1);
    await writeFile(join(dir, 'bom.json'), `\ufeff${JSON.stringify({ issuers: [{ issuer: 'https://a.example/', jwksFile: 'keys.json', audience: 'x' }] })}`);
    for (const [file, problem] of [
      ['latin1.json', 'not UTF-8: line 2 holds bytes that are not valid UTF-8; save as UTF-8'],
      ['bom.json', 'starts with a byte order mark: save as UTF-8 without BOM'],
    ] as const) {
      const failure = await tokensFromConfig(loadConfig({ TOKEN_CONFIG_FILE: join(dir, file) })).catch((e: unknown) => e);
      expect(failure, file).toBeInstanceOf(ConfigError);
      expect((failure as Error).message).toBe(`TOKEN_CONFIG_FILE ${join(dir, file)}: ${problem}`);
    }
  });

  it('refuses a token configuration file that writes a key twice in one object, naming the second', async () => {
    await writeFile(join(dir, 'twice-key.json'), '{"issuers": [{"issuer": "https://a.example/", "jwksFile": "keys.json", "audience": "invoice-api", "audience": "billing-api"}]}');
    const failure = await tokensFromConfig(loadConfig({ TOKEN_CONFIG_FILE: join(dir, 'twice-key.json') })).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ConfigError);
    expect((failure as Error).message).toBe('invalid token configuration:\n  TOKEN_CONFIG_FILE $.issuers[0].audience: duplicate key');
  });

  it('reports every problem of a bad token configuration file at once, with paths', async () => {
    await writeFile(
      join(dir, 'bad.json'),
      JSON.stringify({ issuers: [{ issuer: 'a', audience: [], algorithms: ['none'] }, { issuer: 'a', jwksUrl: 'not a url', audience: 'x', extra: 1 }] }),
    );
    const failure = await tokensFromConfig(loadConfig({ TOKEN_CONFIG_FILE: join(dir, 'bad.json') })).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ConfigError);
    const message = (failure as Error).message;
    for (const path of ['$.issuers[0].audience', '$.issuers[0].jwksUrl', '$.issuers[0].algorithms[0]', '$.issuers[1].jwksUrl', '$.issuers[1]']) {
      expect(message).toContain(`TOKEN_CONFIG_FILE ${path}:`);
    }
  });
});

describe('claim paths', () => {
  it('reads dotted paths, whole keys that contain dots, and only own properties', () => {
    const claims = { a: { b: { c: ['x'] } }, 'https://x.example/roles': ['r'], 'a.b': 'shadow' };
    expect(claimAt(claims, 'a.b.c')).toEqual(['x']);
    expect(claimAt(claims, 'https://x.example/roles')).toEqual(['r']);
    expect(claimAt(claims, 'a.b')).toBe('shadow');
    expect(claimAt(claims, '__proto__')).toBeUndefined();
    expect(claimAt(claims, 'a.constructor')).toBeUndefined();
    expect(claimAt({ a: [{ b: 1 }] }, 'a.0.b')).toBeUndefined();
  });

  it('keeps the original defaults: roles from roles/role, scopes from scope/scp, id from sub', () => {
    expect(claimsToSubject({ sub: 's', role: 'clerk', scp: ['a', 'b'] })).toMatchObject({ id: 's', roles: ['clerk'], scopes: ['a', 'b'] });
    expect(claimsToSubject({ sub: 's', roles: ['x', 7], scope: 'a  b' })).toMatchObject({ roles: ['x'], scopes: ['a', 'b'] });
    expect(claimsToSubject({ sub: 42 })).toMatchObject({ id: '', roles: [], scopes: [] });
  });
});
