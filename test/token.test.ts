import { join } from 'node:path';
import { createLocalJWKSet, exportSPKI, SignJWT, UnsecuredJWT, type JSONWebKeySet, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { jsonLimits } from '../src/json-limits.js';
import { PdpMetrics } from '../src/telemetry/metrics.js';
import { tokensFromConfig, type Tokens } from '../src/token/from-config.js';
import { createJwtVerifier } from '../src/token/verify.js';
import type { AppDeps } from '../src/http/app.js';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { startServer, type TestServer } from './helpers/http-server.js';
import { startJwksServer, type JwksServer } from './helpers/jwks-server.js';
import { sample } from './helpers/telemetry.js';
import { tempDir } from './helpers/tmp.js';
import { jwks, makeKey, sign, testAudience, testIssuer, type SigningKey } from './helpers/tokens.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

const accountantClaims = { sub: 'acc-1', roles: ['accountant'], scope: 'invoice.read invoice.write', region: 'EU' };
const readEU = { action: 'read', resource: { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'EU' } } };

let rsa: SigningKey;
let ec: SigningKey;
let ed: SigningKey;
/** Same kid as `ec`, but not the key in the key set. */
let impostor: SigningKey;
let unlisted: SigningKey;
const servers: JwksServer[] = [];
const closers: TestServer[] = [];

beforeAll(async () => {
  [rsa, ec, ed, impostor, unlisted] = await Promise.all([
    makeKey('RS256'),
    makeKey('ES256'),
    makeKey('EdDSA'),
    makeKey('ES256', 'test-es256'),
    makeKey('ES256', 'unlisted'),
  ]);
});

const built: Tokens[] = [];

afterAll(async () => {
  for (const tokens of built) tokens.close();
  await Promise.all([...servers, ...closers].map((s) => s.close()));
});

async function appWith(env: NodeJS.ProcessEnv, app: Partial<AppDeps> = {}): Promise<App> {
  const tokens = await tokensFromConfig(loadConfig({ JWT_ISSUER: testIssuer, JWT_AUDIENCE: `${testAudience},reports-api`, ...env }));
  built.push(tokens);
  return (await buildTestApp({ tokens: tokens.verifier, claims: tokens.claims, app })).app;
}

async function decide(app: App, token: string, query: object = readEU) {
  const res = await postJson(app, '/decide', { token, ...query });
  expect(res.status).toBe(200);
  return readJson(res);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** A token of `ec` whose `iss` is `iss`, whatever its type (jose's `setIssuer` takes a string only), or that has none. */
function signedWithIss(iss: unknown): Promise<string> {
  const claims = iss === undefined ? accountantClaims : { ...accountantClaims, iss };
  return new SignJWT(claims as JWTPayload).setProtectedHeader({ alg: ec.alg, kid: ec.kid }).setAudience(testAudience).setExpirationTime('5m').sign(ec.privateKey);
}

const keySources: [string, (doc: JSONWebKeySet) => Promise<NodeJS.ProcessEnv>][] = [
  ['a JWKS file (JWKS_FILE)', async (doc) => ({ JWKS_FILE: join(await tempDir({ 'jwks.json': doc }), 'jwks.json') })],
  ['a key server (JWKS_URL)', async (doc) => {
    const server = await startJwksServer(doc);
    servers.push(server);
    return { JWKS_URL: server.url };
  }],
];

describe.each(keySources)('tokens verified with keys from %s', (_, source) => {
  let app: App;
  beforeAll(async () => {
    app = await appWith(await source(jwks([rsa, ec, ed])));
  });

  it.each(['RS256', 'ES256', 'EdDSA'] as const)('a valid %s token permits per policy, with the claims as the subject', async (alg) => {
    const key = { RS256: rsa, ES256: ec, EdDSA: ed }[alg];
    const body = await decide(app, await sign(key, accountantClaims));
    expect(body).toMatchObject({ decision: 'permit', reasons: [{ policy: 'invoices', rule: 'P2-finance-read-own-region', effect: 'permit' }] });
  });

  it('a valid token still gets the policy decision: deny for another region', async () => {
    const body = await decide(app, await sign(ec, { ...accountantClaims, region: 'US' }));
    expect(body.reasons).toEqual([expect.objectContaining({ code: 'no_applicable_rule' })]);
  });

  it('takes roles from a `role` string and scopes from an `scp` array', async () => {
    const claims = { sub: 'fm-1', role: 'finance_manager', scp: ['invoice.read'], region: 'EU' };
    expect((await decide(app, await sign(ec, claims))).decision).toBe('permit');
    expect((await decide(app, await sign(ec, { ...claims, scp: ['invoice.write'] }))).decision).toBe('deny');
    expect((await decide(app, await sign(ec, { ...claims, role: 'auditor' }))).decision).toBe('deny');
  });

  it('splits scope on spaces only (RFC 6749 §3.3): with a no-break space it is one scope, granting nothing', async () => {
    expect((await decide(app, await sign(ec, { ...accountantClaims, scope: 'x\u00a0invoice.read' }))).decision).toBe('deny');
    expect((await decide(app, await sign(ec, { ...accountantClaims, scope: 'x\tinvoice.read' }))).decision).toBe('deny');
    expect((await decide(app, await sign(ec, { ...accountantClaims, scope: 'x invoice.read' }))).decision).toBe('permit');
  });

  it('uses `sub` as the subject id (D1: no self-approval)', async () => {
    const claims = { sub: 'fm-1', roles: ['finance_manager'], scope: 'invoice.write', region: 'EU', approval_limit: 10000 };
    const invoice = { type: 'invoice', properties: { region: 'EU', status: 'submitted', amount: 100, owner: 'fm-1' } };
    const token = await sign(ec, claims);
    const own = await decide(app, token, { action: 'approve', resource: invoice, context: { mfa: true } });
    expect(own.reasons).toEqual([{ policy: 'invoices', rule: 'D1-no-self-approval', effect: 'deny' }]);
    const other = await decide(app, token, { action: 'approve', resource: { ...invoice, properties: { ...invoice.properties, owner: 'x' } }, context: { mfa: true } });
    expect(other.decision).toBe('permit');
  });

  it.each([
    ['no sub', {}],
    ['an empty sub', { sub: '' }],
    ['a blank sub', { sub: ' ' }],
    ['a sub of whitespace and invisible characters only', { sub: '\u00a0\u200b\t' }],
    // As a signed token may carry it, whatever the claim's type in jose.
    ['a sub that is not a string', { sub: 42 } as unknown as { sub: string }],
  ])('denies a token with %s: rules comparing the subject id would read ""', async (_, subject) => {
    const body = await decide(app, await sign(ec, { roles: accountantClaims.roles, scope: accountantClaims.scope, region: 'EU', ...subject }));
    expect(body).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: expect.stringMatching(/^token names no subject/) }] });
  });

  it('accepts a token issued ahead of its clock within the clock tolerance (30 s by default)', async () => {
    expect((await decide(app, await sign(ec, accountantClaims, { issuedAt: 20 }))).decision).toBe('permit');
  });

  it('accepts any of the configured audiences', async () => {
    expect((await decide(app, await sign(ec, accountantClaims, { aud: 'reports-api' }))).decision).toBe('permit');
    expect((await decide(app, await sign(ec, accountantClaims, { aud: ['elsewhere', testAudience] }))).decision).toBe('permit');
  });

  const invalid: [string, () => Promise<string>, RegExp][] = [
    ['expired', () => sign(ec, accountantClaims, { expiresIn: -120 }), /^token expired$/],
    ['not valid before a future nbf', () => sign(ec, accountantClaims, { notBefore: 300 }), /^token not yet valid$/],
    ['issued in the future, beyond the clock tolerance', () => sign(ec, accountantClaims, { issuedAt: 120, expiresIn: 600 }), /^claim "iat" invalid: in the future$/],
    ['signed by another key under a known kid', () => sign(impostor, accountantClaims), /^signature verification failed$/],
    ['a tampered payload under the original signature', async () => {
      const [header, , signature] = (await sign(ec, accountantClaims)).split('.');
      return `${header}.${b64url({ ...accountantClaims, scope: 'invoice.admin', iss: testIssuer, aud: testAudience, exp: 4102444800 })}.${signature}`;
    }, /^signature verification failed$/],
    ['signed with an unknown kid', () => sign(unlisted, accountantClaims), /^no matching key in the key set$/],
    ['from another issuer', () => sign(ec, accountantClaims, { iss: 'https://evil.test' }), /^issuer not accepted$/],
    ['for another audience', () => sign(ec, accountantClaims, { aud: 'other-api' }), /"aud"/],
    ['unsigned (alg none)', async () => new UnsecuredJWT(accountantClaims).setIssuer(testIssuer).setAudience(testAudience).setExpirationTime('5m').encode(), /^algorithm not allowed$/],
    ['HS256 with the RSA public key as the secret', async () => {
      const secret = new TextEncoder().encode(await exportSPKI(rsa.publicKey));
      return new SignJWT(accountantClaims).setProtectedHeader({ alg: 'HS256', kid: rsa.kid }).setIssuer(testIssuer).setAudience(testAudience).setExpirationTime('5m').sign(secret);
    }, /^algorithm not allowed$/],
    ['garbage', async () => 'not-a-token', /^token is not a JWT and no introspection endpoint is configured$/],
    ['sent with the Bearer scheme of its Authorization header', async () => `Bearer ${await sign(ec, accountantClaims)}`, /^token begins with the "Bearer " scheme of an Authorization header: send the token alone, without it$/],
    ['sent with the DPoP scheme of its Authorization header', async () => `DPoP ${await sign(ec, accountantClaims)}`, /^token begins with the "DPoP " scheme of an Authorization header: send the token alone, without it$/],
    ['three garbage segments', async () => 'a.b.c', /^token is not a well-formed JW[ST] \(ERR_JW[ST]_INVALID\)$/],
    ['whose iss is an array', () => signedWithIss([testIssuer]), /^claim "iss" invalid: an array, not a string$/],
    ['whose iss is a number', () => signedWithIss(42), /^claim "iss" invalid: a number, not a string$/],
    ['whose iss is null', () => signedWithIss(null), /^claim "iss" invalid: null, not a string$/],
    ['without iss', () => signedWithIss(undefined), /^token has no "iss" claim$/],
    // The header is read first, as the issuer's verifier reads it: a claim missing after it is not the first thing wrong.
    ['a header that is not JSON, without iss', async () => `${Buffer.from('{').toString('base64url')}.${b64url(accountantClaims)}.sig`, /^token is not a well-formed JWS \(ERR_JWS_INVALID\)$/],
    ['a header that is not JSON, with iss', async () => `${Buffer.from('{').toString('base64url')}.${b64url({ ...accountantClaims, iss: testIssuer })}.sig`, /^token is not a well-formed JWS \(ERR_JWS_INVALID\)$/],
    ['a header that is a JSON array, without iss', async () => `${b64url([ec.alg])}.${b64url(accountantClaims)}.sig`, /^token is not a well-formed JWS \(ERR_JWS_INVALID\)$/],
    ['a header without alg, without iss', async () => `${b64url({ kid: ec.kid })}.${b64url(accountantClaims)}.sig`, /^token is not a well-formed JWS \(ERR_JWS_INVALID\)$/],
    ['a header without alg, with iss', async () => `${b64url({ kid: ec.kid })}.${b64url({ ...accountantClaims, iss: testIssuer })}.sig`, /^token is not a well-formed JWS \(ERR_JWS_INVALID\)$/],
    ['a header with a critical parameter not recognised, without iss', async () => `${b64url({ alg: ec.alg, kid: ec.kid, crit: ['urn:x'], 'urn:x': 1 })}.${b64url(accountantClaims)}.sig`, /^token has an unrecognised critical header \(ERR_JOSE_NOT_SUPPORTED\)$/],
    ['a header with a critical parameter not recognised, from another issuer', async () => `${b64url({ alg: ec.alg, kid: ec.kid, crit: ['urn:x'], 'urn:x': 1 })}.${b64url({ ...accountantClaims, iss: 'https://evil.test' })}.sig`, /^token has an unrecognised critical header \(ERR_JOSE_NOT_SUPPORTED\)$/],
    ['a header with a crit that is not a list of names, without iss', async () => `${b64url({ alg: ec.alg, kid: ec.kid, crit: [] })}.${b64url(accountantClaims)}.sig`, /^token is not a well-formed JWS \(ERR_JWS_INVALID\)$/],
    ['an unencoded payload (crit b64, b64 false), without iss', async () => `${b64url({ alg: ec.alg, kid: ec.kid, crit: ['b64'], b64: false })}.${b64url(accountantClaims)}.sig`, /^token is not a well-formed JWT \(ERR_JWT_INVALID\)$/],
  ];

  it('an oversized token (over TOKEN_MAX_LENGTH, 8192 by default) is a 200 deny, checked before any parsing', async () => {
    const token = await sign(ec, { ...accountantClaims, padding: 'x'.repeat(9_000) });
    const body = await decide(app, token);
    expect(body).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'token longer than 8192 characters' }] });
    const large = await sign(ec, { ...accountantClaims, padding: 'x'.repeat(5_000) });
    expect((await decide(app, large)).decision).toBe('permit');
  });

  it.each(invalid)('a token %s is a 200 deny with invalid_token and why, never a permit', async (_, make, detail) => {
    const body = await decide(app, await make());
    expect(body.decision).toBe('deny');
    expect(body.reasons).toEqual([{ code: 'invalid_token', detail: expect.stringMatching(detail) }]);
    expect(body.advice).toEqual([]);
  });
});

describe('algorithm pinning', () => {
  it('denies a validly signed token whose algorithm is not configured', async () => {
    const app = await appWith({ JWKS_FILE: join(await tempDir({ 'jwks.json': jwks([rsa, ec]) }), 'jwks.json'), JWT_ALGORITHMS: 'RS256' });
    expect((await decide(app, await sign(rsa, accountantClaims))).decision).toBe('permit');
    expect((await decide(app, await sign(ec, accountantClaims))).reasons).toEqual([{ code: 'invalid_token', detail: 'algorithm not allowed' }]);
  });

  it('refuses, at start, an issuer entry naming an algorithm no key set verifies with', async () => {
    const entry = { issuer: testIssuer, jwksFile: 'jwks.json', audience: testAudience, algorithms: ['ES256', 'ES265', 'HS256'] };
    const file = join(await tempDir({ 'tokens.json': { issuers: [entry] } }), 'tokens.json');
    const refused = tokensFromConfig(loadConfig({ TOKEN_CONFIG_FILE: file }));
    await expect(refused).rejects.toThrow(/TOKEN_CONFIG_FILE \$\.issuers\[0\]\.algorithms\[1\]: ES265 is not a JWS algorithm this service verifies/);
    await expect(refused).rejects.toThrow(/TOKEN_CONFIG_FILE \$\.issuers\[0\]\.algorithms\[2\]: HS256 is never accepted from a key set/);
  });

  it('refuses HMAC at start, in JWT_ALGORITHMS and as JWT_ALLOW_HMAC, naming the setting: a secret that verifies tokens also signs them', () => {
    const keyed = { JWKS_FILE: 'jwks.json', JWT_ISSUER: testIssuer, JWT_AUDIENCE: testAudience };
    const refused = (env: NodeJS.ProcessEnv) => {
      try {
        loadConfig({ ...keyed, ...env });
      } catch (error) {
        return (error as Error).message.split('\n').slice(1).map((line) => line.trim());
      }
      return [];
    };
    expect(refused({ JWT_ALLOW_HMAC: 'true', JWT_ALGORITHMS: 'HS256,ES256' })).toEqual([
      'JWT_ALLOW_HMAC: HMAC is never accepted, whatever this says: remove JWT_ALLOW_HMAC and verify tokens with an asymmetric key set',
      'JWT_ALGORITHMS: HS256 (HMAC) is never accepted: tokens are verified with asymmetric keys only',
    ]);
    expect(refused({ JWT_ALGORITHMS: 'ES256,hs512' })).toEqual(['JWT_ALGORITHMS: hs512 (HMAC) is never accepted: tokens are verified with asymmetric keys only']);
    expect(refused({ JWT_ALLOW_HMAC: 'false' })).toEqual([]);
  });
});

describe('a token without kid, against a key set with several keys of its type', () => {
  const kidless = (key: SigningKey) =>
    new SignJWT(accountantClaims).setProtectedHeader({ alg: key.alg }).setIssuer(testIssuer).setAudience(testAudience).setExpirationTime('5m').sign(key.privateKey);

  it('is verified with whichever key signed it (an IdP may leave kid out while rotating keys)', async () => {
    const [first, second] = await Promise.all([makeKey('RS256', 'rsa-old'), makeKey('RS256', 'rsa-new')]);
    const server = await startJwksServer(jwks([first, second]));
    servers.push(server);
    const app = await appWith({ JWKS_URL: server.url });
    expect(await decide(app, await kidless(second))).toMatchObject({ decision: 'permit' });
    expect(await decide(app, await kidless(first))).toMatchObject({ decision: 'permit' });
    // The key that checks its signature says why it is refused: no other key is tried after it.
    const expired = await new SignJWT(accountantClaims).setProtectedHeader({ alg: 'RS256' }).setIssuer(testIssuer).setAudience(testAudience).setExpirationTime(Math.floor(Date.now() / 1000) - 120).sign(second.privateKey);
    expect(await decide(app, expired)).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'token expired' }] });
    expect(await decide(app, await kidless(rsa))).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'signature verification failed' }] });
  });

  it('tries at most 8 keys, so a large key set does not make one token cost a check per key', async () => {
    const keys = await Promise.all(Array.from({ length: 9 }, (_, i) => makeKey('ES256', `ec-${i}`)));
    const app = await appWith({ JWKS_FILE: join(await tempDir({ 'jwks.json': jwks(keys) }), 'jwks.json') });
    expect(await decide(app, await kidless(keys[7] as SigningKey))).toMatchObject({ decision: 'permit' });
    expect(await decide(app, await kidless(keys[8] as SigningKey))).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'signature verification failed' }] });
  });
});

describe('a key re-issued under the same kid', () => {
  it('is taken at the next fetch the cooldown allows; a signature no held key checks asks for no more fetches than that', async () => {
    const server = await startJwksServer(jwks([ec]));
    servers.push(server);
    const app = await appWith({ JWKS_URL: server.url, JWKS_COOLDOWN_SECONDS: '1' });
    expect(await decide(app, await sign(ec, accountantClaims))).toMatchObject({ decision: 'permit' });
    expect(server.requests).toBe(1);
    // The issuer replaces the key, keeping its kid (`impostor` is another key under ec's kid).
    server.publish(jwks([impostor]));
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await decide(app, await sign(impostor, accountantClaims))).toMatchObject({ decision: 'permit' });
    expect(server.requests).toBe(2);
    // The old key is gone: its tokens fail their signature, and within the cooldown fetch nothing.
    for (let i = 0; i < 3; i++) {
      expect(await decide(app, await sign(ec, accountantClaims))).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'signature verification failed' }] });
    }
    expect(server.requests).toBe(2);
  });
});

describe('a rotated key, after the host clock stepped back', () => {
  it('is fetched once the cooldown has passed as time runs, whatever the wall clock says', async () => {
    const server = await startJwksServer(jwks([ec]));
    servers.push(server);
    const app = await appWith({ JWKS_URL: server.url, JWKS_COOLDOWN_SECONDS: '1' });
    expect(await decide(app, await sign(ec, accountantClaims))).toMatchObject({ decision: 'permit' });
    expect(server.requests).toBe(1);
    // An hour back, as NTP steps a clock that ran fast or a VM's after it resumes: the cooldown
    // counted on it would hold the rotated key off for that hour, denying its every token.
    const rotated = await sign(rsa, accountantClaims);
    const wallClock = Date.now;
    Date.now = () => wallClock() - 3_600_000;
    try {
      server.publish(jwks([ec, rsa]));
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      expect(await decide(app, rotated)).toMatchObject({ decision: 'permit' });
      expect(server.requests).toBe(2);
    } finally {
      Date.now = wallClock;
    }
  });
});

describe('a token whose check meets a key server slow to answer, under a cooldown shorter than a fetch', () => {
  it('waits on one fetch at most, so it is denied within REQUEST_TIMEOUT_MS, not cut off by a 503', async () => {
    // A key under the kid the token names, that did not sign it: the set changes with each fetch.
    const renamed = await makeKey('ES256', 'k-new');
    // A check that waited on every fetch it could start would wait on the next two answers and then
    // on a fetch never answered: 0.3 + 1.8 + 2 s, past the 4 s deadline. Waiting on one, it is
    // denied after 0.3 s: 0.4 s on a machine at a load of 15, where a key set timeout of 0.4 s and a
    // deadline of 0.8 s left too little room.
    const answers: { keys: ReturnType<typeof jwks>; delayMs: number }[] = [
      { keys: jwks([ec]), delayMs: 0 },
      { keys: jwks([renamed]), delayMs: 300 },
      { keys: jwks([ec]), delayMs: 1_800 },
    ];
    let requests = 0;
    const server = await startServer((_req, res) => {
      const answer = answers[requests];
      requests += 1;
      // Past the script, the server never answers.
      if (answer === undefined) return;
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer.keys)), answer.delayMs);
    });
    closers.push(server);
    const env = { JWKS_URL: `${server.url}/jwks.json`, JWKS_TIMEOUT_MS: '2000', REQUEST_TIMEOUT_MS: '4000', JWKS_COOLDOWN_SECONDS: '0', JWKS_REFRESH_SECONDS: '0' };
    const app = await appWith(env, { requestTimeoutMs: 4_000 });
    expect(await decide(app, await sign(ec, accountantClaims))).toMatchObject({ decision: 'permit' });
    const body = await decide(app, await sign(ec, accountantClaims, { kid: 'k-new' }));
    expect(body).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'signature verification failed' }] });
    // The startup fetch and the one the unknown kid asked for; none for the signature its keys fail.
    expect(requests).toBe(2);
  });
});

describe('a signature no held key checks, while the key server fails', () => {
  it('is denied as the outage it may be, not as a forged token; once the server answers, as invalid', async () => {
    const server = await startJwksServer(jwks([ec]));
    servers.push(server);
    const app = await appWith({ JWKS_URL: server.url, JWKS_COOLDOWN_SECONDS: '1' });
    expect(await decide(app, await sign(ec, accountantClaims))).toMatchObject({ decision: 'permit' });
    server.mode = 'error';
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    // The issuer may have re-issued the key under its kid: the server, were it up, might list it.
    const unchecked = await decide(app, await sign(impostor, accountantClaims));
    expect(unchecked).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: "key set unavailable: no key among those fetched checks this token's signature, and the last fetch failed (answered HTTP 500)" }] });
    expect(server.requests).toBe(2);
    expect(await decide(app, await sign(ec, accountantClaims))).toMatchObject({ decision: 'permit' });
    server.mode = 'ok';
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await decide(app, await sign(impostor, accountantClaims))).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'signature verification failed' }] });
    expect(server.requests).toBe(3);
  });
});

describe('a token without exp', () => {
  const lasting = () => new SignJWT(accountantClaims).setProtectedHeader({ alg: 'ES256', kid: ec.kid }).setIssuer(testIssuer).setAudience(testAudience).setIssuedAt().sign(ec.privateKey);
  const keys = async () => join(await tempDir({ 'jwks.json': jwks([ec]) }), 'jwks.json');

  it('is denied by default, as RFC 9068 requires exp: it would never expire', async () => {
    const body = await decide(await appWith({ JWKS_FILE: await keys() }), await lasting());
    expect(body).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'claim "exp" invalid: missing' }] });
  });

  it('is accepted with JWT_REQUIRE_EXP=false, or for an issuer whose entry sets requireExp: false', async () => {
    const token = await lasting();
    expect((await decide(await appWith({ JWKS_FILE: await keys(), JWT_REQUIRE_EXP: 'false' }), token)).decision).toBe('permit');
    const entry = { issuer: testIssuer, jwksFile: await keys(), audience: testAudience, requireExp: false };
    const file = join(await tempDir({ 'tokens.json': { issuers: [entry] } }), 'tokens.json');
    const fromFile = await tokensFromConfig(loadConfig({ TOKEN_CONFIG_FILE: file }));
    built.push(fromFile);
    const app = (await buildTestApp({ tokens: fromFile.verifier, claims: fromFile.claims })).app;
    expect((await decide(app, token)).decision).toBe('permit');
  });
});

describe('a token whose exp has a fraction of a second (RFC 7519 NumericDate)', () => {
  it('is denied from that instant on, cached or not, with no clock tolerance', async () => {
    const app = await appWith({ JWKS_FILE: join(await tempDir({ 'jwks.json': jwks([ec]) }), 'jwks.json'), JWT_CLOCK_TOLERANCE_SECONDS: '0' });
    // Early in a second, so the exp below and the instant after it fall within that same second.
    while (Date.now() % 1_000 > 200) await sleep(10);
    const exp = Math.floor(Date.now() / 1_000) + 0.6;
    const token = await new SignJWT(accountantClaims).setProtectedHeader({ alg: 'ES256', kid: ec.kid }).setIssuer(testIssuer).setAudience(testAudience).setExpirationTime(exp).sign(ec.privateKey);
    expect((await decide(app, token)).decision).toBe('permit');
    while (Date.now() <= exp * 1_000) await sleep(10);
    expect(await decide(app, token)).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'token expired' }] });
  });
});

describe('a token checked at the very millisecond its exp names', () => {
  it('is refused then, not only a millisecond after (RFC 7519: not on or after exp)', async () => {
    const expMs = (Math.floor(Date.now() / 1_000) + 60) * 1_000 + 600;
    const exp = expMs / 1_000;
    const token = await new SignJWT(accountantClaims).setProtectedHeader({ alg: 'ES256', kid: ec.kid }).setIssuer(testIssuer).setAudience(testAudience).setExpirationTime(exp).sign(ec.privateKey);
    const at = (ms: number) => createJwtVerifier({ keys: createLocalJWKSet(jwks([ec])), issuer: testIssuer, audience: [testAudience], algorithms: ['ES256'], clockTolerance: 0, clock: () => new Date(ms) });
    await expect(at(expMs - 1).verify(token)).resolves.toMatchObject({ sub: accountantClaims.sub });
    await expect(at(expMs).verify(token)).rejects.toThrow(/^token expired$/);
  });
});

describe('a token whose nbf has a fraction of a second (RFC 7519 NumericDate)', () => {
  it('is taken from that very millisecond on, not from the next whole second', async () => {
    const nbfMs = (Math.floor(Date.now() / 1_000) - 60) * 1_000 + 400;
    const token = await new SignJWT(accountantClaims).setProtectedHeader({ alg: 'ES256', kid: ec.kid }).setIssuer(testIssuer).setAudience(testAudience).setNotBefore(nbfMs / 1_000).setExpirationTime('1h').sign(ec.privateKey);
    const at = (ms: number) => createJwtVerifier({ keys: createLocalJWKSet(jwks([ec])), issuer: testIssuer, audience: [testAudience], algorithms: ['ES256'], clockTolerance: 0, clock: () => new Date(ms) });
    await expect(at(nbfMs - 1).verify(token)).rejects.toThrow(/^token not yet valid$/);
    await expect(at(nbfMs).verify(token)).resolves.toMatchObject({ sub: accountantClaims.sub });
  });
});

describe('a token that expires while its key is being fetched', () => {
  it('is denied: its exp is held to the time the check ends, not the time it began', async () => {
    const next = await makeKey('ES256', 'k-next');
    let requests = 0;
    const server = await startServer((_req, res) => {
      requests += 1;
      // The start-up fetch answers at once, the one the unknown kid asks for after a second.
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks(requests === 1 ? [ec] : [ec, next]))), requests === 1 ? 0 : 1_000);
    });
    closers.push(server);
    const app = await appWith({ JWKS_URL: `${server.url}/jwks.json`, JWKS_COOLDOWN_SECONDS: '0', JWKS_REFRESH_SECONDS: '0', JWT_CLOCK_TOLERANCE_SECONDS: '0' });
    expect((await decide(app, await sign(ec, accountantClaims))).decision).toBe('permit');
    // Early in a second, so the token is still valid when its check begins.
    while (Date.now() % 1_000 > 500) await sleep(10);
    const exp = Math.floor(Date.now() / 1_000) + 1;
    const token = await new SignJWT(accountantClaims).setProtectedHeader({ alg: 'ES256', kid: next.kid }).setIssuer(testIssuer).setAudience(testAudience).setExpirationTime(exp).sign(next.privateKey);
    const body = await decide(app, token);
    expect(Date.now()).toBeGreaterThan(exp * 1_000);
    expect(body).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'token expired' }] });
    expect(requests).toBe(2);
  });
});

describe('a key server that fails', () => {
  it.each([
    ['answers 500', 'error'],
    ['answers something that is not a key set', 'garbage'],
  ] as const)('%s: tokens are denied, never a 500', async (_, mode) => {
    const server = await startJwksServer(jwks([ec]));
    server.mode = mode;
    servers.push(server);
    const app = await appWith({ JWKS_URL: server.url });
    const body = await decide(app, await sign(ec, accountantClaims));
    expect(body).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: expect.any(String) }] });
    expect(server.requests).toBe(1);
  });

  it('is down: tokens are denied with a reason that says so, without the key set URL and its secrets', async () => {
    const server = await startJwksServer(jwks([ec]));
    await server.close();
    const app = await appWith({ JWKS_URL: `${server.url}?api_key=s3cr3t-query-value` });
    const body = await decide(app, await sign(ec, accountantClaims));
    expect(body).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: expect.stringMatching(/^key set unavailable: unreachable/) }] });
    expect(JSON.stringify(body)).not.toContain('s3cr3t');
    expect(JSON.stringify(body)).not.toContain(new URL(server.url).host);
  });
});

describe('pdp_token_verifications_total', () => {
  it('counts a signed token the service refuses (no subject, claims over the limits) as invalid, not valid', async () => {
    const metrics = new PdpMetrics();
    const tokens = await tokensFromConfig(loadConfig({ JWT_ISSUER: testIssuer, JWT_AUDIENCE: testAudience, JWKS_FILE: join(await tempDir({ 'jwks.json': jwks([ec]) }), 'jwks.json') }), { observer: metrics });
    built.push(tokens);
    const { app } = await buildTestApp({ tokens: tokens.verifier, claims: tokens.claims });
    let deep: unknown = 'x';
    for (let i = 0; i < jsonLimits.maxDepth; i++) deep = { d: deep };
    const refused = [await sign(ec, { roles: ['accountant'] }), await sign(ec, { sub: 'acc-1', nested: deep })];
    for (const token of refused) expect(await decide(app, token)).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token' }] });
    expect((await decide(app, await sign(ec, accountantClaims))).decision).toBe('permit');
    const text = await metrics.registry.metrics();
    expect(sample(text, 'pdp_token_verifications_total', { kind: 'jwt', result: 'invalid' })).toBe(2);
    expect(sample(text, 'pdp_token_verifications_total', { kind: 'jwt', result: 'valid' })).toBe(1);
  });
});
