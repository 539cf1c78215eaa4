import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { tokensFromConfig, type Tokens } from '../src/token/from-config.js';
import { buildTestApp, defaultPolicyDir, postJson, readJson } from './helpers/app.js';
import { configProblems } from './helpers/config.js';
import { startIntrospectionServer, type IntrospectionServer } from './helpers/introspection-server.js';
import { startServer } from './helpers/server-process.js';
import { jwks, sign, signingKey, type SigningKey } from './helpers/signing.js';
import { tempDir } from './helpers/tmp.js';

const issuer = 'https://idp.test';
const partner = 'https://partner.test/';
const audience = 'invoice-api';
const question = { action: 'read', resource: { type: 'invoice', properties: { invoice_type: 'purchase', region: 'EU' } } };
const accountant = { sub: 'alice', roles: ['accountant'], scope: 'invoice.read', region: 'EU' };
const dpop = { jkt: '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I' };
const mtls = { 'x5t#S256': 'bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2' };
const refused = 'the token is sender-constrained (cnf): its proof of possession is not checked here; set TOKEN_BINDING=checked-by-gateway where the gateway checks it';
const refusedByIssuer = 'the token is sender-constrained (cnf): its proof of possession is not checked here; set the issuer\'s "tokenBinding": "checked-by-gateway" in TOKEN_CONFIG_FILE where the gateway checks it';
const epoch = () => Math.floor(Date.now() / 1000);

const built: Tokens[] = [];
afterAll(() => built.forEach((tokens) => tokens.close()));

let key: SigningKey;
let dir: string;
let server: IntrospectionServer;
const seen: string[] = [];

beforeAll(async () => {
  key = await signingKey('k1');
  dir = await tempDir({ 'keys.json': jwks(key) });
  server = await startIntrospectionServer();
});
afterAll(() => server.close());

/** The real token handling of `env` (JWKS_FILE for `issuer`, the local introspection server) behind the real app. */
async function appOf(env: NodeJS.ProcessEnv) {
  const tokens = await tokensFromConfig(
    loadConfig({
      JWKS_FILE: join(dir, 'keys.json'),
      JWT_ISSUER: issuer,
      JWT_AUDIENCE: audience,
      INTROSPECTION_URL: server.url,
      INTROSPECTION_CLIENT_ID: server.clientId,
      INTROSPECTION_CLIENT_SECRET: server.clientSecret,
      INTROSPECTION_AUDIENCE: audience,
      ...env,
    }),
    { observer: { tokenVerification: (kind, result) => void seen.push(`${kind}:${result}`) } },
  );
  built.push(tokens);
  const { app } = await buildTestApp({ tokens: tokens.verifier, claims: tokens.claims });
  return async (token: string) => readJson(await postJson(app, '/decide', { token, ...question }));
}

describe('sender-constrained JWTs (cnf)', () => {
  it.each([
    ['DPoP-bound (jkt)', dpop],
    ['certificate-bound (x5t#S256)', mtls],
    ['bound in a way not known here ({})', {}],
    // Whatever cnf holds: an issuer that writes it says the token is bound.
    ['stating cnf as null', null],
    ['stating cnf as a string', ''],
  ])('are denied as invalid_token by default when %s, every time they are presented', async (_, cnf) => {
    const decide = await appOf({});
    const token = await sign(key, { ...accountant, cnf }, { issuer, audience });
    seen.length = 0;
    for (let i = 0; i < 2; i += 1) {
      expect(await decide(token)).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: refused }] });
    }
    expect(seen).toEqual(['jwt:invalid', 'jwt:invalid']);
  });

  it('are decided on with TOKEN_BINDING=checked-by-gateway, as are bearer tokens under either setting', async () => {
    const checked = await appOf({ TOKEN_BINDING: 'checked-by-gateway' });
    const refusing = await appOf({ TOKEN_BINDING: 'refuse' });
    const bound = await sign(key, { ...accountant, cnf: dpop }, { issuer, audience });
    const bearer = await sign(key, accountant, { issuer, audience });
    expect(await checked(bound)).toMatchObject({ decision: 'permit' });
    expect(await checked(bearer)).toMatchObject({ decision: 'permit' });
    expect(await refusing(bearer)).toMatchObject({ decision: 'permit' });
    expect(await refusing(bound)).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: refused }] });
  });
});

describe('a DPoP-bound token sent with the DPoP scheme of its Authorization header (RFC 9449 §7.1)', () => {
  it('is denied saying to send the token alone, without verifying or looking it up, under either TOKEN_BINDING; the token alone is then taken as any bound token is', async () => {
    const detail = 'token begins with the "DPoP " scheme of an Authorization header: send the token alone, without it';
    const bound = await sign(key, { ...accountant, cnf: dpop }, { issuer, audience });
    server.answer('DPoP bound-opaque-2', { body: { active: true, iss: issuer, aud: audience, exp: epoch() + 600, ...accountant } });
    for (const env of [{}, { TOKEN_BINDING: 'checked-by-gateway' }]) {
      const decide = await appOf(env);
      seen.length = 0;
      for (const token of [`DPoP ${bound}`, 'DPoP bound-opaque-2', 'dpop bound-opaque-2', 'DPOP  bound-opaque-2']) {
        expect(await decide(token)).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail }] });
        expect(server.requestsFor(token)).toBe(0);
      }
      expect(seen).toEqual(Array(4).fill('introspection:invalid'));
    }
    expect(await (await appOf({}))(bound)).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: refused }] });
    expect(await (await appOf({ TOKEN_BINDING: 'checked-by-gateway' }))(bound)).toMatchObject({ decision: 'permit' });
  });
});

describe('sender-constrained introspected tokens (cnf in the answer)', () => {
  it('are denied as invalid_token by default, also when the answer comes from the cache', async () => {
    server.answer('bound-opaque', { body: { active: true, iss: issuer, aud: audience, exp: epoch() + 600, ...accountant, cnf: dpop } });
    const decide = await appOf({});
    seen.length = 0;
    for (let i = 0; i < 2; i += 1) {
      expect(await decide('bound-opaque')).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: refused }] });
    }
    expect(server.requestsFor('bound-opaque')).toBe(1);
    expect(seen).toEqual(['introspection:invalid', 'introspection:invalid']);
  });

  it('are decided on with TOKEN_BINDING=checked-by-gateway, not with TOKEN_BINDING=refuse', async () => {
    server.answer('bound-checked', { body: { active: true, iss: issuer, aud: audience, exp: epoch() + 600, ...accountant, cnf: mtls } });
    const checked = await appOf({ TOKEN_BINDING: 'checked-by-gateway' });
    const refusing = await appOf({ TOKEN_BINDING: 'refuse' });
    expect(await checked('bound-checked')).toMatchObject({ decision: 'permit' });
    expect(await refusing('bound-checked')).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: refused }] });
  });

  it('are denied when the answer is signed (INTROSPECTION_JWKS_FILE) as when it is plain JSON', async () => {
    const asKey = await signingKey('as-1');
    const asIssuer = 'https://as.test';
    const keys = await tempDir({ 'as.json': jwks(asKey) });
    const answer = await new SignJWT({ token_introspection: { active: true, iss: issuer, aud: audience, exp: epoch() + 600, ...accountant, cnf: dpop } })
      .setProtectedHeader({ alg: asKey.alg, kid: asKey.kid, typ: 'token-introspection+jwt' })
      .setIssuer(asIssuer)
      .setAudience(server.clientId)
      .setIssuedAt()
      .sign(asKey.privateKey);
    server.answer('bound-signed', { contentType: 'application/token-introspection+jwt', body: answer });
    const decide = await appOf({ INTROSPECTION_JWKS_FILE: join(keys, 'as.json'), INTROSPECTION_JWT_ISSUER: asIssuer });
    expect(await decide('bound-signed')).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: refused }] });
  });
});

describe('an issuer entry\'s "tokenBinding" (TOKEN_CONFIG_FILE)', () => {
  const entry = (tokenBinding: string) => ({ issuers: [{ issuer: partner, jwksFile: 'keys.json', audience, tokenBinding }] });

  it('overrides TOKEN_BINDING for that issuer\'s tokens only, either way', async () => {
    const taken = await tempDir({ 'keys.json': jwks(key), 'tokens.json': entry('checked-by-gateway') });
    const decide = await appOf({ TOKEN_CONFIG_FILE: join(taken, 'tokens.json') });
    expect(await decide(await sign(key, { ...accountant, cnf: dpop }, { issuer: partner, audience }))).toMatchObject({ decision: 'permit' });
    expect(await decide(await sign(key, { ...accountant, cnf: dpop }, { issuer, audience }))).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: refused }] });

    const kept = await tempDir({ 'keys.json': jwks(key), 'tokens.json': entry('refuse') });
    const strict = await appOf({ TOKEN_CONFIG_FILE: join(kept, 'tokens.json'), TOKEN_BINDING: 'checked-by-gateway' });
    expect(await strict(await sign(key, { ...accountant, cnf: dpop }, { issuer: partner, audience }))).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: refusedByIssuer }] });
    expect(await strict(await sign(key, { ...accountant, cnf: dpop }, { issuer, audience }))).toMatchObject({ decision: 'permit' });
  });

  it('applies to an introspection answer whose "iss" is that issuer, exactly as configured', async () => {
    const taken = await tempDir({ 'keys.json': jwks(key), 'tokens.json': entry('checked-by-gateway') });
    const decide = await appOf({ TOKEN_CONFIG_FILE: join(taken, 'tokens.json') });
    server.answer('partner-bound', { body: { active: true, iss: partner, aud: audience, exp: epoch() + 600, ...accountant, cnf: dpop } });
    server.answer('partner-unslashed', { body: { active: true, iss: partner.slice(0, -1), aud: audience, exp: epoch() + 600, ...accountant, cnf: dpop } });
    expect(await decide('partner-bound')).toMatchObject({ decision: 'permit' });
    expect(await decide('partner-unslashed')).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: refused }] });
  });

  it('shows in the start log, each issuer with the setting its tokens get', async () => {
    const files = await tempDir({ 'keys.json': jwks(key), 'tokens.json': entry('checked-by-gateway') });
    const server = await startServer({ POLICY_DIR: defaultPolicyDir, TOKEN_CONFIG_FILE: join(files, 'tokens.json'), JWKS_FILE: join(dir, 'keys.json'), JWT_ISSUER: issuer, JWT_AUDIENCE: audience });
    try {
      const listening = await server.waitForLog((line) => line['msg'] === 'invoice-pdp listening');
      expect(listening['tokens']).toMatchObject({
        issuers: [{ issuer, tokenBinding: 'refuse' }, { issuer: partner, tokenBinding: 'checked-by-gateway' }],
        tokenBinding: 'refuse',
      });
    } finally {
      await server.stop();
    }
  });

  it('stops the start when it is neither value, naming where', async () => {
    const bad = await tempDir({ 'keys.json': jwks(key), 'tokens.json': entry('gateway') });
    const failure = await tokensFromConfig(loadConfig({ TOKEN_CONFIG_FILE: join(bad, 'tokens.json') })).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ConfigError);
    expect((failure as Error).message).toContain('TOKEN_CONFIG_FILE $.issuers[0].tokenBinding: Invalid option: expected one of "refuse"|"checked-by-gateway"');
  });
});

describe('claims a request states itself', () => {
  it('are not checked for cnf: /decide\'s subject and an AuthZEN subject\'s properties', async () => {
    const { app } = await buildTestApp();
    const properties = { ...accountant, cnf: dpop };
    expect(await readJson(await postJson(app, '/decide', { subject: { id: 'alice', properties }, ...question }))).toMatchObject({ decision: 'permit' });
    const evaluation = { subject: { type: 'user', id: 'alice', properties }, action: { name: 'read' }, resource: { type: 'invoice', id: 'inv-1', properties: question.resource.properties } };
    expect(await readJson(await postJson(app, '/access/v1/evaluation', evaluation))).toMatchObject({ decision: true });
  });
});

describe('TOKEN_BINDING', () => {
  it('stops the start when it is neither value', () => {
    expect(configProblems({ TOKEN_BINDING: 'off' })).toEqual(['TOKEN_BINDING: Invalid option: expected one of "refuse"|"checked-by-gateway"']);
  });
});
