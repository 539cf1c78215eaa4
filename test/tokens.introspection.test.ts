import { join } from 'node:path';
import { createLocalJWKSet, SignJWT } from 'jose';
import { loadConfig } from '../src/config.js';
import { tokensFromConfig, type Tokens } from '../src/token/from-config.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { IntrospectionCache } from '../src/token/introspection-cache.js';
import { TokenCheckUnavailableError } from '../src/token/errors.js';
import { createIntrospector, type IntrospectorOptions } from '../src/token/introspect.js';
import type { TokenObserver } from '../src/token/observer.js';
import { createTokenVerifier } from '../src/token/token-verifier.js';
import { createJwtVerifier, type TokenVerifier } from '../src/token/verify.js';
import { PdpMetrics } from '../src/telemetry/metrics.js';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { freePort } from './helpers/free-port.js';
import { startIntrospectionServer, type IntrospectionServer } from './helpers/introspection-server.js';
import { startJwksServer, type JwksServer } from './helpers/jwks-server.js';
import { refusal } from './helpers/refusal.js';
import { jwks, sign, signingKey, type SigningKey } from './helpers/signing.js';
import { sample } from './helpers/telemetry.js';
import { tempDir } from './helpers/tmp.js';

const asIssuer = 'https://as.test/';
const epoch = () => Math.floor(Date.now() / 1000);
/** What most tests below ask, and the claims of the caller who asks it. */
const question = { action: 'read', resource: { type: 'invoice', properties: { invoice_type: 'purchase', region: 'EU' } } };
const claims = { sub: 'alice', roles: ['accountant'], scope: 'invoice.read', region: 'EU' };

describe('opaque tokens: RFC 7662 introspection', () => {
  let server: IntrospectionServer;
  let now: number;
  const clock = () => now;

  beforeAll(async () => {
    server = await startIntrospectionServer();
  });
  afterAll(() => server.close());

  function introspector(options: Partial<IntrospectorOptions> = {}): TokenVerifier {
    now = Date.now();
    return createIntrospector({
      url: server.url,
      clientId: server.clientId,
      clientSecret: server.clientSecret,
      // Far beyond any lookup here: the first took 0.8 s on a machine at a load of 15, later ones
      // over 0.3 s, which timed them out and failed tests that are not about the timeout.
      timeoutMs: 5_000,
      cache: new IntrospectionCache({ activeEntries: 100, inactiveEntries: 100, maxTtlMs: 60_000, clock }),
      clock,
      ...options,
    });
  }

  let n = 0;
  const opaque = () => `opaque-${(n += 1)}-${Math.random().toString(36).slice(2)}`;

  it('turns an active answer into claims, authenticating with HTTP Basic', async () => {
    const token = opaque();
    server.answer(token, { body: { active: true, sub: 'alice', scope: 'invoice.read', exp: epoch() + 600, iss: asIssuer } });
    await expect(introspector().verify(token)).resolves.toMatchObject({ sub: 'alice', scope: 'invoice.read', active: true });
    expect(server.lastAccept).toBe('application/json');
  });

  it('refuses an inactive token', async () => {
    const token = opaque();
    server.answer(token, { body: { active: false } });
    expect((await refusal(introspector().verify(token))).message).toBe('token is not active');
  });

  it.each([
    ['a slow server (timeout)', { delayMs: 5_000, body: { active: true } }, /no answer within 1000 ms/],
    ['HTTP 500', { status: 500, body: 'oops' }, /answered HTTP 500/],
    // A proxy's error page, a login page redirected to: told by its status, however long, not by its size.
    ['HTTP 503 with a page longer than an answer may be', { status: 503, contentType: 'text/html', body: `<html>${'x'.repeat(100_000)}</html>` }, /^introspection unavailable: answered HTTP 503$/],
    ['a redirect with a page longer than an answer may be', { status: 302, contentType: 'text/html', body: `<html>${'x'.repeat(100_000)}</html>` }, /^introspection unavailable: answered HTTP 302$/],
    ['bad JSON', { body: '{"active": tru' }, /answer is not JSON/],
    ['JSON without a boolean active', { body: { active: 'yes', sub: 'alice' } }, /no boolean "active"/],
    ['a JSON array', { body: '[true]' }, /no boolean "active"/],
    ['an answer typed text/html (RFC 7662 §2.2: application/json), though its body reads as one', { contentType: 'text/html', body: { active: true, sub: 'alice' } }, /^introspection unavailable: answer is text\/html, expected application\/json$/],
    ['an untyped answer', { contentType: '', body: { active: true, sub: 'alice' } }, /^introspection unavailable: answer is untyped, expected application\/json$/],
  ])('denies as unavailable on %s, and caches nothing', async (_name, reply, detail) => {
    const token = opaque();
    server.answer(token, reply);
    // The lookup after the failure must get its answer within the timeout too: 0.3 s was too short
    // for it on a loaded machine.
    const verifier = introspector({ timeoutMs: 1_000 });
    const started = performance.now();
    const error = await refusal(verifier.verify(token));
    // Ended by the timeout: ~1.0 s (1.2 s on a machine at a load of 15); without it, the lookup
    // waits out the slow server's 5 s. The other failures take well under a second.
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(error).toBeInstanceOf(TokenCheckUnavailableError);
    expect(error.message).toMatch(detail);
    server.answer(token, { body: { active: true, sub: 'alice' } });
    await expect(verifier.verify(token)).resolves.toMatchObject({ sub: 'alice' });
    expect(server.requestsFor(token)).toBe(2);
  });

  it('denies as unavailable when the server refuses our client credentials', async () => {
    const token = opaque();
    server.answer(token, { body: { active: true } });
    const verifier = introspector({ clientSecret: 'wrong' });
    expect((await refusal(verifier.verify(token))).message).toMatch(/answered HTTP 401/);
  });

  it('denies as unavailable when nothing listens', async () => {
    const verifier = introspector({ url: `http://127.0.0.1:${await freePort()}/introspect` });
    expect((await refusal(verifier.verify(opaque()))).message).toBe('introspection unavailable: unreachable: connection refused (ECONNREFUSED)');
  });

  it('caches an answer by token hash: one request for repeated lookups', async () => {
    const token = opaque();
    server.answer(token, { body: { active: true, sub: 'alice', exp: epoch() + 600 } });
    const verifier = introspector();
    for (let i = 0; i < 5; i += 1) await verifier.verify(token);
    expect(server.requestsFor(token)).toBe(1);
  });

  it('shares one request among concurrent lookups of a token', async () => {
    const token = opaque();
    server.answer(token, { delayMs: 100, body: { active: true, sub: 'alice', exp: epoch() + 600 } });
    const verifier = introspector();
    const results = await Promise.all(Array.from({ length: 25 }, () => verifier.verify(token)));
    expect(results.every((c) => c['sub'] === 'alice')).toBe(true);
    expect(server.requestsFor(token)).toBe(1);
  });

  it('also shares the request when concurrent lookups fail, and retries afterwards', async () => {
    const token = opaque();
    server.answer(token, { delayMs: 50, status: 503 });
    const verifier = introspector();
    await Promise.all(Array.from({ length: 10 }, () => refusal(verifier.verify(token))));
    expect(server.requestsFor(token)).toBe(1);
    await refusal(verifier.verify(token));
    expect(server.requestsFor(token)).toBe(2);
  });

  it('keeps an answer no longer than the token lives', async () => {
    const token = opaque();
    const exp = epoch() + 10;
    server.answer(token, { body: { active: true, sub: 'alice', exp } });
    const verifier = introspector();
    await verifier.verify(token);
    now = exp * 1000 - 1;
    await verifier.verify(token);
    expect(server.requestsFor(token)).toBe(1);
    now = exp * 1000;
    // Asked again from its exp on, and taken within the clock tolerance (30 s), as a JWT is.
    await expect(verifier.verify(token)).resolves.toMatchObject({ sub: 'alice' });
    expect(server.requestsFor(token)).toBe(2);
    now = (exp + 30) * 1000;
    expect((await refusal(verifier.verify(token))).message).toBe('token expired');
    expect(server.requestsFor(token)).toBe(3);
  });

  it('keeps an answer no longer than the configured maximum', async () => {
    const token = opaque();
    server.answer(token, { body: { active: true, sub: 'alice', exp: epoch() + 3_600 } });
    const verifier = introspector();
    await verifier.verify(token);
    now += 59_000;
    await verifier.verify(token);
    now += 1_000;
    await verifier.verify(token);
    expect(server.requestsFor(token)).toBe(2);
  });

  it('refuses an "active" answer that is expired, not yet valid, about a refresh token, or with times that are not numbers', async () => {
    const verifier = introspector();
    const cases = [
      [{ active: true, exp: epoch() - 60 }, 'token expired'],
      [{ active: true, exp: String(epoch() - 1000) }, '"exp" is not a number'],
      [{ active: true, exp: null }, '"exp" is not a number'],
      [{ active: true, exp: epoch() + 600, nbf: String(epoch() + 600) }, '"nbf" is not a number'],
      [{ active: true, nbf: epoch() + 600 }, 'token not yet valid'],
      [{ active: true, token_type: 'refresh_token' }, 'a refresh token is not an access token'],
    ] as const;
    for (const [body, detail] of cases) {
      const token = opaque();
      server.answer(token, { body });
      expect((await refusal(verifier.verify(token))).message).toBe(detail);
    }
  });

  it('holds answers up to a length of claims as JSON, least recently used dropped first, besides their count', async () => {
    // 10,000 answers of 57 KB each took the process to 1.16 GB under TOKEN_CACHE_ENTRIES alone.
    const verifier = introspector({ cache: new IntrospectionCache({ activeEntries: 100, inactiveEntries: 100, maxTtlMs: 60_000, clock, maxJsonLength: 20_000 }) });
    const answer = (sub: string) => ({ body: { active: true, sub, exp: epoch() + 600, note: 'x'.repeat(8_000) } });
    const [a, b, c, big] = [opaque(), opaque(), opaque(), opaque()];
    for (const [token, sub] of [[a, 'a'], [b, 'b']] as const) {
      server.answer(token, answer(sub));
      await verifier.verify(token);
    }
    await verifier.verify(a);
    expect([server.requestsFor(a), server.requestsFor(b)]).toEqual([1, 1]);
    // A third pushes out the one least recently used, b: its next presentation is looked up again.
    server.answer(c, answer('c'));
    await verifier.verify(c);
    await verifier.verify(a);
    await verifier.verify(b);
    expect([server.requestsFor(a), server.requestsFor(b), server.requestsFor(c)]).toEqual([1, 2, 1]);
    // One longer than the whole bound is not held at all.
    server.answer(big, { body: { active: true, sub: 'big', exp: epoch() + 600, note: 'x'.repeat(16_000), more: 'y'.repeat(8_000) } });
    await verifier.verify(big);
    await verifier.verify(big);
    expect(server.requestsFor(big)).toBe(2);
  });

  it('takes the token as soon as a clock that ran past its exp is stepped back: a refusal on our clock alone is not remembered', async () => {
    const token = opaque();
    const exp = epoch() + 600;
    server.answer(token, { body: { active: true, sub: 'alice', exp } });
    const verifier = introspector();
    const corrected = now;
    // The host clock a day ahead (a virtual machine resumed, before NTP corrects it).
    now = corrected + 86_400_000;
    expect((await refusal(verifier.verify(token))).message).toBe('token expired');
    now = corrected;
    await expect(verifier.verify(token)).resolves.toMatchObject({ sub: 'alice' });
    expect(server.requestsFor(token)).toBe(2);
  });

  it('remembers a not-yet-valid answer only until the clock tolerance reaches its nbf, then takes the token', async () => {
    const token = opaque();
    const nbf = epoch() + 60;
    server.answer(token, { body: { active: true, sub: 'alice', nbf, exp: nbf + 600 } });
    const verifier = introspector({ clockTolerance: 10 });
    expect((await refusal(verifier.verify(token))).message).toBe('token not yet valid');
    now = (nbf - 10) * 1000 - 1;
    await refusal(verifier.verify(token));
    expect(server.requestsFor(token)).toBe(1);
    now = (nbf - 10) * 1000;
    await expect(verifier.verify(token)).resolves.toMatchObject({ sub: 'alice' });
    expect(server.requestsFor(token)).toBe(2);
  });

  it('remembers an answer issued in the future only until the clock tolerance reaches its iat, then takes the token', async () => {
    const token = opaque();
    const iat = epoch() + 60;
    server.answer(token, { body: { active: true, sub: 'alice', iat, exp: iat + 600 } });
    const verifier = introspector({ clockTolerance: 10 });
    expect((await refusal(verifier.verify(token))).message).toBe('claim "iat" invalid: in the future');
    now = (iat - 10) * 1000 - 1;
    await refusal(verifier.verify(token));
    expect(server.requestsFor(token)).toBe(1);
    now = (iat - 10) * 1000;
    await expect(verifier.verify(token)).resolves.toMatchObject({ sub: 'alice' });
    expect(server.requestsFor(token)).toBe(2);
  });

  it('tells availability by the latest lookup started, not by the last to end', async () => {
    const told: boolean[] = [];
    const verifier = introspector({ onAvailability: (available) => told.push(available) });
    // Each slow answer is held until the later lookup has ended: a sleep let a loaded machine end
    // them in the other order, and the test then checked nothing of the kind.
    // Answered before an outage but slowly, so it ends after a lookup that met the outage.
    const before = opaque();
    let answerBefore = (): void => undefined;
    server.answer(before, { body: { active: true, sub: 'alice' }, until: new Promise<void>((resolve) => (answerBefore = resolve)) });
    const during = opaque();
    server.answer(during, { status: 500 });
    const answered = verifier.verify(before);
    await refusal(verifier.verify(during));
    answerBefore();
    await answered;
    expect(told).toEqual([false]);
    // And the other way: a lookup that fails late says nothing once a later one has answered.
    const late = opaque();
    let answerLate = (): void => undefined;
    server.answer(late, { status: 500, until: new Promise<void>((resolve) => (answerLate = resolve)) });
    const again = opaque();
    server.answer(again, { body: { active: true, sub: 'alice' } });
    const failing = refusal(verifier.verify(late));
    await verifier.verify(again);
    answerLate();
    await failing;
    expect(told).toEqual([false, true]);
  });

  describe('RFC 9701 signed answers (application/token-introspection+jwt)', () => {
    let asKey: SigningKey;
    let otherKey: SigningKey;
    beforeAll(async () => {
      [asKey, otherKey] = await Promise.all([signingKey('as-1'), signingKey('as-1')]);
    });

    const signedAnswer = (key: SigningKey, introspection: Record<string, unknown>, overrides: { aud?: string; typ?: string; iss?: string; undated?: true } = {}) => {
      const answer = new SignJWT({ token_introspection: introspection })
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: overrides.typ ?? 'token-introspection+jwt' })
        .setIssuer(overrides.iss ?? asIssuer)
        .setAudience(overrides.aud ?? server.clientId);
      return (overrides.undated === true ? answer : answer.setIssuedAt()).sign(key.privateKey);
    };

    const signedIntrospector = () =>
      introspector({ signed: { keys: createLocalJWKSet(jwks(asKey)), issuer: asIssuer, algorithms: ['ES256'] } });

    it('asks for and verifies a signed answer', async () => {
      const token = opaque();
      server.answer(token, { contentType: 'application/token-introspection+jwt', body: await signedAnswer(asKey, { active: true, sub: 'alice', exp: epoch() + 600 }) });
      await expect(signedIntrospector().verify(token)).resolves.toMatchObject({ sub: 'alice' });
      expect(server.lastAccept).toBe('application/token-introspection+jwt');
    });

    it('refuses an inactive signed answer as invalid', async () => {
      const token = opaque();
      server.answer(token, { contentType: 'application/token-introspection+jwt', body: await signedAnswer(asKey, { active: false }) });
      const error = await refusal(signedIntrospector().verify(token));
      expect(error).not.toBeInstanceOf(TokenCheckUnavailableError);
    });

    it.each([
      ['a plain JSON answer (downgrade)', async () => ({ body: { active: true, sub: 'alice' } }), /expected application\/token-introspection\+jwt/],
      ['an answer signed by another key', async () => ({ contentType: 'application/token-introspection+jwt', body: await signedAnswer(otherKey, { active: true }) }), /not verified/],
      ['an answer for another client', async () => ({ contentType: 'application/token-introspection+jwt', body: await signedAnswer(asKey, { active: true }, { aud: 'someone-else' }) }), /not verified/],
      ['an answer from another issuer', async () => ({ contentType: 'application/token-introspection+jwt', body: await signedAnswer(asKey, { active: true }, { iss: 'https://other-as.test/' }) }), /not verified/],
      ['an answer with the wrong typ', async () => ({ contentType: 'application/token-introspection+jwt', body: await signedAnswer(asKey, { active: true }, { typ: 'JWT' }) }), /not verified/],
      ['an answer without iat, which RFC 9701 §5 requires', async () => ({ contentType: 'application/token-introspection+jwt', body: await signedAnswer(asKey, { active: true, sub: 'alice', exp: epoch() + 600 }, { undated: true }) }), /not verified \(ERR_JWT_CLAIM_VALIDATION_FAILED\)/],
    ])('denies as unavailable on %s', async (_name, reply, detail) => {
      const token = opaque();
      server.answer(token, await reply());
      const error = await refusal(signedIntrospector().verify(token));
      expect(error).toBeInstanceOf(TokenCheckUnavailableError);
      expect(error.message).toMatch(detail);
    });

    it('keeps a signed answer no longer than the answer itself is valid, though the token lives on', async () => {
      const token = opaque();
      const answerExp = epoch() + 10;
      const answer = await new SignJWT({ token_introspection: { active: true, sub: 'alice', exp: epoch() + 600 } })
        .setProtectedHeader({ alg: asKey.alg, kid: asKey.kid, typ: 'token-introspection+jwt' })
        .setIssuer(asIssuer)
        .setAudience(server.clientId)
        .setIssuedAt()
        .setExpirationTime(answerExp)
        .sign(asKey.privateKey);
      server.answer(token, { contentType: 'application/token-introspection+jwt', body: answer });
      const verifier = introspector({ clockTolerance: 5, signed: { keys: createLocalJWKSet(jwks(asKey)), issuer: asIssuer, algorithms: ['ES256'] } });
      await verifier.verify(token);
      // Taken up to its exp and the tolerance, as verifying it again would take it.
      now = (answerExp + 5) * 1000 - 1;
      await verifier.verify(token);
      expect(server.requestsFor(token)).toBe(1);
      now = (answerExp + 5) * 1000;
      const error = await refusal(verifier.verify(token));
      expect(error.message).toBe('introspection unavailable: signed answer not verified (ERR_JWT_EXPIRED)');
      expect(server.requestsFor(token)).toBe(2);
    });

    it('asks again, and refuses, once the clock steps back before the answer\'s own nbf, as a fresh check of it would', async () => {
      const token = opaque();
      const nbf = epoch();
      const answer = await new SignJWT({ token_introspection: { active: true, sub: 'alice', exp: epoch() + 600 } })
        .setProtectedHeader({ alg: asKey.alg, kid: asKey.kid, typ: 'token-introspection+jwt' })
        .setIssuer(asIssuer)
        .setAudience(server.clientId)
        .setIssuedAt(nbf)
        .setNotBefore(nbf)
        .sign(asKey.privateKey);
      server.answer(token, { contentType: 'application/token-introspection+jwt', body: answer });
      const verifier = introspector({ clockTolerance: 5, signed: { keys: createLocalJWKSet(jwks(asKey)), issuer: asIssuer, algorithms: ['ES256'] } });
      now = nbf * 1_000;
      await verifier.verify(token);
      now = (nbf - 5) * 1_000;
      await verifier.verify(token);
      expect(server.requestsFor(token)).toBe(1);
      now = (nbf - 5) * 1_000 - 1;
      const error = await refusal(verifier.verify(token));
      expect(error.message).toBe('introspection unavailable: signed answer not verified (ERR_JWT_CLAIM_VALIDATION_FAILED)');
      expect(server.requestsFor(token)).toBe(2);
    });

    it('asks again, and refuses, once the clock steps back before the answer\'s own iat, as a fresh check of it would', async () => {
      const token = opaque();
      const iat = epoch();
      const answer = await new SignJWT({ token_introspection: { active: true, sub: 'alice', exp: epoch() + 600 } })
        .setProtectedHeader({ alg: asKey.alg, kid: asKey.kid, typ: 'token-introspection+jwt' })
        .setIssuer(asIssuer)
        .setAudience(server.clientId)
        .setIssuedAt(iat)
        .sign(asKey.privateKey);
      server.answer(token, { contentType: 'application/token-introspection+jwt', body: answer });
      const verifier = introspector({ clockTolerance: 5, signed: { keys: createLocalJWKSet(jwks(asKey)), issuer: asIssuer, algorithms: ['ES256'] } });
      now = iat * 1_000;
      await verifier.verify(token);
      now = (iat - 5) * 1_000;
      await verifier.verify(token);
      expect(server.requestsFor(token)).toBe(1);
      now = (iat - 5) * 1_000 - 1;
      const error = await refusal(verifier.verify(token));
      expect(error.message).toBe('introspection unavailable: signed answer not verified (ERR_JWT_CLAIM_VALIDATION_FAILED)');
      expect(server.requestsFor(token)).toBe(2);
    });

    it('takes an answer whose own nbf has a fraction of a second from that very millisecond on', async () => {
      const token = opaque();
      const nbfMs = (epoch() - 60) * 1_000 + 400;
      const answer = await new SignJWT({ token_introspection: { active: true, sub: 'alice', exp: epoch() + 600 } })
        .setProtectedHeader({ alg: asKey.alg, kid: asKey.kid, typ: 'token-introspection+jwt' })
        .setIssuer(asIssuer)
        .setAudience(server.clientId)
        .setIssuedAt(epoch() - 60)
        .setNotBefore(nbfMs / 1_000)
        .sign(asKey.privateKey);
      server.answer(token, { contentType: 'application/token-introspection+jwt', body: answer });
      const verifier = () => introspector({ clockTolerance: 0, signed: { keys: createLocalJWKSet(jwks(asKey)), issuer: asIssuer, algorithms: ['ES256'] } });
      const early = verifier();
      now = nbfMs - 1;
      const error = await refusal(early.verify(token));
      expect(error.message).toBe('introspection unavailable: signed answer not verified (ERR_JWT_CLAIM_VALIDATION_FAILED)');
      const onTime = verifier();
      now = nbfMs;
      await expect(onTime.verify(token)).resolves.toMatchObject({ sub: 'alice' });
    });

    it('denies as unavailable an answer signed with an algorithm not accepted, by a key its key set holds', async () => {
      const edKey = await signingKey('as-ed', 'EdDSA');
      const token = opaque();
      server.answer(token, { contentType: 'application/token-introspection+jwt', body: await signedAnswer(edKey, { active: true, sub: 'alice', exp: epoch() + 600 }) });
      const both = introspector({ signed: { keys: createLocalJWKSet(jwks(asKey, edKey)), issuer: asIssuer, algorithms: ['ES256'] } });
      const error = await refusal(both.verify(token));
      expect(error).toBeInstanceOf(TokenCheckUnavailableError);
      expect(error.message).toBe('introspection unavailable: signed answer not verified (ERR_JOSE_ALG_NOT_ALLOWED)');
    });
  });
});

describe('phantom-token flow: opaque outside, JWT inside, one PDP', () => {
  let server: IntrospectionServer;
  let key: SigningKey;
  const seen: string[] = [];
  const observer: TokenObserver = { tokenVerification: (kind, result) => void seen.push(`${kind}:${result}`) };
  let app: Awaited<ReturnType<typeof buildTestApp>>['app'];

  beforeAll(async () => {
    server = await startIntrospectionServer();
    key = await signingKey('as-1');
    const verifier = createTokenVerifier({
      jwt: createJwtVerifier({ keys: createLocalJWKSet(jwks(key)), issuer: asIssuer, audience: ['invoice-api'], algorithms: ['ES256'] }),
      introspection: createIntrospector({ url: server.url, clientId: server.clientId, clientSecret: server.clientSecret }),
      observer,
    });
    ({ app } = await buildTestApp({ tokens: verifier }));
  });
  afterAll(() => server.close());
  afterEach(() => {
    seen.length = 0;
  });

  it('verifies the internal JWT locally, without asking the authorization server', async () => {
    const jwt = await sign(key, claims, { issuer: asIssuer, audience: 'invoice-api' });
    const body = await readJson(await postJson(app, '/decide', { token: jwt, ...question }));
    expect(body.decision).toBe('permit');
    expect(server.requests).toBe(0);
    expect(seen).toEqual(['jwt:valid']);
  });

  it('introspects the opaque token a client sent from outside', async () => {
    server.answer('Xk2P0pAq9', { body: { active: true, iss: asIssuer, exp: epoch() + 600, ...claims } });
    const body = await readJson(await postJson(app, '/decide', { token: 'Xk2P0pAq9', ...question }));
    expect(body.decision).toBe('permit');
    expect(server.requestsFor('Xk2P0pAq9')).toBe(1);
    expect(seen).toEqual(['introspection:valid']);
  });

  it('denies a token sent with the Bearer scheme of its Authorization header, saying so, without asking the authorization server', async () => {
    const jwt = await sign(key, claims, { issuer: asIssuer, audience: 'invoice-api' });
    server.answer('Bearer Xk2P0pAq9', { body: { active: true, iss: asIssuer, exp: epoch() + 600, ...claims } });
    for (const token of [`Bearer ${jwt}`, 'Bearer Xk2P0pAq9', 'bearer Xk2P0pAq9', 'BEARER  Xk2P0pAq9']) {
      const body = await readJson(await postJson(app, '/decide', { token, ...question }));
      expect(body).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'token begins with the "Bearer " scheme of an Authorization header: send the token alone, without it' }] });
      expect(server.requestsFor(token)).toBe(0);
    }
    expect(seen).toEqual(Array(4).fill('introspection:invalid'));
  });

  it('denies with invalid_token when the opaque token is inactive, or introspection is down', async () => {
    server.answer('revoked', { body: { active: false } });
    server.answer('broken', { status: 502 });
    const inactive = await readJson(await postJson(app, '/decide', { token: 'revoked', ...question }));
    const down = await readJson(await postJson(app, '/decide', { token: 'broken', ...question }));
    expect(inactive).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'token is not active' }] });
    expect(down).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'introspection unavailable: answered HTTP 502' }] });
    expect(seen).toEqual(['introspection:invalid', 'introspection:error']);
  });

  it.each([
    ['Ory Hydra (token_use)', { token_type: 'bearer', token_use: 'refresh_token' }],
    ['Keycloak (typ)', { typ: 'Refresh' }],
    ['Keycloak offline token (typ)', { typ: 'Offline' }],
    ['token_type in another case', { token_type: 'Refresh_Token' }],
  ])('denies a refresh token whose active answer says so the way %s does', async (_, marks) => {
    const token = `refresh-${Object.values(marks).join('-')}`;
    server.answer(token, { body: { active: true, iss: asIssuer, aud: 'invoice-api', exp: epoch() + 600, ...claims, ...marks } });
    const body = await readJson(await postJson(app, '/decide', { token, ...question }));
    expect(body).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'a refresh token is not an access token' }] });
    expect(seen).toEqual(['introspection:invalid']);
  });

  it('denies an ID token whose active answer says so the way Keycloak does (typ ID)', async () => {
    server.answer('id-token', { body: { active: true, iss: asIssuer, aud: 'invoice-api', exp: epoch() + 600, ...claims, typ: 'ID' } });
    const body = await readJson(await postJson(app, '/decide', { token: 'id-token', ...question }));
    expect(body).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'an ID token is not an access token' }] });
    expect(seen).toEqual(['introspection:invalid']);
  });

  it('takes an access token answered with its type and use', async () => {
    server.answer('typed-access', { body: { active: true, iss: asIssuer, exp: epoch() + 600, ...claims, token_type: 'Bearer', token_use: 'access_token', typ: 'Bearer' } });
    const body = await readJson(await postJson(app, '/decide', { token: 'typed-access', ...question }));
    expect(body.decision).toBe('permit');
  });

  it('denies with invalid_token an active answer that is not typed application/json', async () => {
    server.answer('html', { contentType: 'text/html; charset=utf-8', body: { active: true, iss: asIssuer, exp: epoch() + 600, ...claims } });
    const body = await readJson(await postJson(app, '/decide', { token: 'html', ...question }));
    expect(body).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'introspection unavailable: answer is text/html, expected application/json' }] });
    expect(seen).toEqual(['introspection:error']);
  });

  it('denies with invalid_token an answer that is not UTF-8, rather than read two subjects as one', async () => {
    // Latin-1 from a misconfigured server: read leniently, "José" and "Josè" both became "Jos\uFFFD".
    const latin1 = (sub: string) => Buffer.from(JSON.stringify({ active: true, iss: asIssuer, exp: epoch() + 600, ...claims, sub }), 'latin1');
    server.answer('latin1-e-acute', { body: latin1('Jos\u00e9') });
    server.answer('latin1-e-grave', { body: latin1('Jos\u00e8') });
    for (const token of ['latin1-e-acute', 'latin1-e-grave']) {
      const body = await readJson(await postJson(app, '/decide', { token, ...question }));
      expect(body).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'introspection unavailable: answered text that is not UTF-8' }] });
    }
    // A failure's own page is not read: its status says what went wrong, whatever its encoding.
    server.answer('latin1-502', { status: 502, contentType: 'text/html', body: Buffer.from('<p>Passerelle d\u00e9faillante</p>', 'latin1') });
    const failed = await readJson(await postJson(app, '/decide', { token: 'latin1-502', ...question }));
    expect(failed).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'introspection unavailable: answered HTTP 502' }] });
    expect(seen).toEqual(['introspection:error', 'introspection:error', 'introspection:error']);
  });

  it('denies with invalid_token an answer that writes a key twice, whichever of the two comes last', async () => {
    // JSON.parse keeps the last: written inactive, then active, the answer read as active.
    const member = (value: unknown) => JSON.stringify({ active: value, iss: asIssuer, exp: epoch() + 600, ...claims }).slice(1, -1);
    server.answer('twice-active', { body: `{"active":false,${member(true)}}` });
    const body = await readJson(await postJson(app, '/decide', { token: 'twice-active', ...question }));
    expect(body).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'introspection unavailable: answer writes $.active twice' }] });
    server.answer('twice-role', { body: `{${member(true)},"roles":["clerk"],"roles":["accountant"]}` });
    const roles = await readJson(await postJson(app, '/decide', { token: 'twice-role', ...question }));
    expect(roles).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'introspection unavailable: answer writes $.roles twice' }] });
    expect(seen).toEqual(['introspection:error', 'introspection:error']);
  });
});

describe('INTROSPECTION_AUDIENCE', () => {
  let server: IntrospectionServer;
  const built: Tokens[] = [];
  const issued = { ...claims, iss: asIssuer };

  beforeAll(async () => {
    server = await startIntrospectionServer();
    server.answer('for-billing', { body: { active: true, ...issued, aud: 'billing-api', exp: epoch() + 600 } });
    server.answer('for-us', { body: { active: true, ...issued, aud: ['billing-api', 'invoice-api'], exp: epoch() + 600 } });
    server.answer('for-nobody', { body: { active: true, ...issued, exp: epoch() + 600 } });
    for (const aud of ['invoice-api-admin', 'https://invoice-api', 'Invoice-API', 'invoice-ap', ' invoice-api', ['invoice-api-admin']]) {
      server.answer(`near-${JSON.stringify(aud)}`, { body: { active: true, ...issued, aud, exp: epoch() + 600 } });
    }
  });
  afterAll(async () => {
    for (const tokens of built) tokens.close();
    await server.close();
  });

  async function decide(env: NodeJS.ProcessEnv, token: string) {
    const tokens = await tokensFromConfig(loadConfig({ INTROSPECTION_URL: server.url, INTROSPECTION_CLIENT_ID: server.clientId, INTROSPECTION_CLIENT_SECRET: server.clientSecret, ...env }));
    built.push(tokens);
    const { app } = await buildTestApp({ tokens: tokens.verifier, claims: tokens.claims });
    return readJson(await postJson(app, '/decide', { token, ...question }));
  }

  it('denies an active token issued for another API, or naming no audience', async () => {
    const env = { INTROSPECTION_AUDIENCE: 'invoice-api' };
    expect(await decide(env, 'for-billing')).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'audience not accepted' }] });
    expect(await decide(env, 'for-nobody')).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'audience not accepted' }] });
    expect(await decide(env, 'for-us')).toMatchObject({ decision: 'permit' });
  });

  it('takes an audience equal to one configured, not one that contains it, starts like it or differs in case', async () => {
    const env = { INTROSPECTION_AUDIENCE: 'invoice-api' };
    for (const aud of ['invoice-api-admin', 'https://invoice-api', 'Invoice-API', 'invoice-ap', ' invoice-api', ['invoice-api-admin']]) {
      expect(await decide(env, `near-${JSON.stringify(aud)}`), JSON.stringify(aud)).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'audience not accepted' }] });
    }
  });

  it('unset, takes any audience (the startup log warns)', async () => {
    expect(await decide({}, 'for-billing')).toMatchObject({ decision: 'permit' });
  });

  it('looks up an opaque token of TOKEN_MAX_LENGTH characters, and refuses a longer one without asking', async () => {
    const [longest, over] = [256, 257].map((length) => `o${'x'.repeat(length - 1)}`) as [string, string];
    server.answer(longest, { body: { active: true, ...issued, exp: epoch() + 600 } });
    server.answer(over, { body: { active: true, ...issued, exp: epoch() + 600 } });
    expect(await decide({ TOKEN_MAX_LENGTH: '256' }, longest)).toMatchObject({ decision: 'permit' });
    expect(await decide({ TOKEN_MAX_LENGTH: '256' }, over)).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'token longer than 256 characters' }] });
    expect(server.requestsFor(over)).toBe(0);
  });
});

describe('the introspection cache under a flood of inactive tokens', () => {
  let server: IntrospectionServer;
  let tokens: Tokens;
  let app: Awaited<ReturnType<typeof buildTestApp>>['app'];

  beforeAll(async () => {
    server = await startIntrospectionServer();
    tokens = await tokensFromConfig(
      loadConfig({ INTROSPECTION_URL: server.url, INTROSPECTION_CLIENT_ID: server.clientId, INTROSPECTION_CLIENT_SECRET: server.clientSecret, TOKEN_CACHE_ENTRIES: '20' }),
    );
    ({ app } = await buildTestApp({ tokens: tokens.verifier, claims: tokens.claims }));
  });
  afterAll(async () => {
    tokens.close();
    await server.close();
  });

  const decide = async (token: string) => readJson(await postJson(app, '/decide', { token, ...question }));

  it('keeps the active answers: junk tokens, more than the cache holds, evict none of them', async () => {
    server.answer('alice-live', { body: { active: true, iss: asIssuer, exp: epoch() + 600, ...claims } });
    expect(await decide('alice-live')).toMatchObject({ decision: 'permit' });
    // Unknown to the server, each answered `"active": false`: what a caller sending made-up tokens gets.
    for (let i = 0; i < 25; i += 1) expect(await decide(`junk-${i}`)).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'token is not active' }] });
    expect(await decide('alice-live')).toMatchObject({ decision: 'permit' });
    expect(server.requestsFor('alice-live')).toBe(1);
  });

  it('remembers inactive answers apart, a tenth as many: a token presented again is not asked for again until pushed out', async () => {
    for (let i = 0; i < 3; i += 1) await decide('revoked-again');
    expect(server.requestsFor('revoked-again')).toBe(1);
    expect(tokens.summary['introspectionCache']).toEqual({ activeEntries: 20, inactiveEntries: 2, maxSeconds: 60 });
    // TOKEN_CACHE_ENTRIES=20 holds 2 inactive answers: two more push it out.
    await decide('other-junk-1');
    await decide('other-junk-2');
    await decide('revoked-again');
    expect(server.requestsFor('revoked-again')).toBe(2);
  });
});

describe('an introspection answer over the 64 KiB read', () => {
  it('denies that token alone, saying so, as no outage: the endpoint answers every other token', async () => {
    const server = await startIntrospectionServer();
    const metrics = new PdpMetrics();
    const told: [boolean, string | undefined][] = [];
    const tokens = await tokensFromConfig(loadConfig({ INTROSPECTION_URL: server.url, INTROSPECTION_CLIENT_ID: server.clientId, INTROSPECTION_CLIENT_SECRET: server.clientSecret }), {
      observer: metrics,
      onIntrospectionAvailability: (_url, available, failure) => void told.push([available, failure?.message]),
    });
    try {
      const { app } = await buildTestApp({ tokens: tokens.verifier, claims: tokens.claims });
      const decide = async (token: string) => readJson(await postJson(app, '/decide', { token, ...question }));
      // A user with a very large profile: every claim the authorization server holds, in one answer.
      server.answer('large-profile', { body: { active: true, ...claims, exp: epoch() + 600, profile: 'x'.repeat(70_000) } });
      server.answer('small-profile', { body: { active: true, ...claims, exp: epoch() + 600 } });
      expect(await decide('small-profile')).toMatchObject({ decision: 'permit' });
      const detail = 'introspection answer for this token larger than 65536 bytes, more than is read: its claims are too large';
      expect(await decide('large-profile')).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail }] });
      expect(told).toEqual([]);
      // A page of another type, a proxy's login page answered with 200, is no answer at all, however long.
      server.answer('behind-a-login-page', { contentType: 'text/html', body: `<html>${'x'.repeat(100_000)}</html>` });
      const down = 'introspection unavailable: answer is text/html, expected application/json';
      expect(await decide('behind-a-login-page')).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: down }] });
      expect(told).toEqual([[false, down]]);
      // After it, the large answer is the endpoint answering again. It is asked for at each
      // presentation, as a failure is: the profile may have been trimmed meanwhile.
      expect(await decide('large-profile')).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail }] });
      expect(told).toEqual([[false, down], [true, undefined]]);
      server.answer('large-profile', { body: { active: true, ...claims, exp: epoch() + 600 } });
      expect(await decide('large-profile')).toMatchObject({ decision: 'permit' });
      const text = await metrics.registry.metrics();
      expect(sample(text, 'pdp_token_verifications_total', { kind: 'introspection', result: 'invalid' })).toBe(2);
      expect(sample(text, 'pdp_token_verifications_total', { kind: 'introspection', result: 'error' })).toBe(1);
    } finally {
      tokens.close();
      await server.close();
    }
  });
});

describe('RFC 9701 signed answers under a fetched key set', () => {
  /** An active answer for alice, signed by `key` for `server`'s client. */
  const answerBy = (key: SigningKey, server: IntrospectionServer) =>
    new SignJWT({ token_introspection: { active: true, sub: 'alice', scope: 'invoice.read', exp: epoch() + 600 } })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'token-introspection+jwt' })
      .setIssuer(asIssuer)
      .setAudience(server.clientId)
      .setIssuedAt()
      .sign(key.privateKey);

  /** Opaque tokens introspected at `server`, its answers checked with the key set at `keySetUrl`. */
  const tokensFrom = (server: IntrospectionServer, keySetUrl: string, env: Record<string, string> = {}) =>
    tokensFromConfig(loadConfig({
      INTROSPECTION_URL: server.url,
      INTROSPECTION_CLIENT_ID: server.clientId,
      INTROSPECTION_CLIENT_SECRET: server.clientSecret,
      INTROSPECTION_JWKS_URL: keySetUrl,
      INTROSPECTION_JWT_ISSUER: asIssuer,
      ...env,
    }));

  it('whose key set cannot be fetched deny naming the introspection, not the JWT key set', async () => {
    const [server, keySet, key] = await Promise.all([startIntrospectionServer(), startJwksServer({ keys: [] }), signingKey('as-1')]);
    keySet.mode = 'error';
    server.answer('signed-opaque', { contentType: 'application/token-introspection+jwt', body: await answerBy(key, server) });
    const tokens = await tokensFrom(server, keySet.url);
    try {
      const { app } = await buildTestApp({ tokens: tokens.verifier, claims: tokens.claims });
      const body = await readJson(await postJson(app, '/decide', { token: 'signed-opaque', action: 'read', resource: { type: 'invoice' } }));
      expect(body).toMatchObject({
        decision: 'deny',
        reasons: [{ code: 'invalid_token', detail: 'introspection unavailable: signed answer not verified (key set unavailable: answered HTTP 500)' }],
      });
    } finally {
      tokens.close();
      await Promise.all([server.close(), keySet.close()]);
    }
  });

  it('whose key is re-issued under its kid are verified with the key set fetched again; while that fetch fails, denied as an outage', async () => {
    const [server, first, second] = await Promise.all([startIntrospectionServer(), signingKey('as-1'), signingKey('as-1')]);
    const keySet = await startJwksServer(jwks(first));
    const tokens = await tokensFrom(server, keySet.url, { JWKS_COOLDOWN_SECONDS: '1' });
    const cooldown = () => new Promise((resolve) => setTimeout(resolve, 1_100));
    try {
      const { app } = await buildTestApp({ tokens: tokens.verifier, claims: tokens.claims });
      const decide = async (token: string) => readJson(await postJson(app, '/decide', { token, action: 'read', resource: { type: 'invoice' } }));
      server.answer('before', { contentType: 'application/token-introspection+jwt', body: await answerBy(first, server) });
      expect(await decide('before')).toMatchObject({ reasons: [expect.not.objectContaining({ code: 'invalid_token' })] });
      keySet.publish(jwks(second));
      await cooldown();
      server.answer('after', { contentType: 'application/token-introspection+jwt', body: await answerBy(second, server) });
      expect(await decide('after')).toMatchObject({ reasons: [expect.not.objectContaining({ code: 'invalid_token' })] });
      expect(keySet.requests).toBe(2);
      keySet.mode = 'error';
      await cooldown();
      server.answer('during', { contentType: 'application/token-introspection+jwt', body: await answerBy(first, server) });
      expect(await decide('during')).toMatchObject({
        decision: 'deny',
        reasons: [{ code: 'invalid_token', detail: "introspection unavailable: signed answer not verified (key set unavailable: no key among those fetched checks this token's signature, and the last fetch failed (answered HTTP 500))" }],
      });
    } finally {
      tokens.close();
      await Promise.all([server.close(), keySet.close()]);
    }
  });
  describe('cached, and a key the key set no longer lists', () => {
    let server: IntrospectionServer;
    let keySet: JwksServer;
    let tokens: Tokens;
    let k1: SigningKey;
    let k2: SigningKey;
    let app: Awaited<ReturnType<typeof buildTestApp>>['app'];
    const decide = async (token: string) => readJson(await postJson(app, '/decide', { token, action: 'read', resource: { type: 'invoice' } }));
    const signed = async (token: string, key: SigningKey) => server.answer(token, { contentType: 'application/token-introspection+jwt', body: await answerBy(key, server) });
    /** An answer signed under a kid the key set does not list: its check fetches the key set again. */
    const fetchAgain = async () => {
      const token = `stranger-${keySet.requests}`;
      await signed(token, await signingKey('as-unknown'));
      return decide(token);
    };

    beforeAll(async () => {
      [k1, k2] = await Promise.all([signingKey('as-1'), signingKey('as-2')]);
    });
    afterEach(async () => {
      tokens.close();
      await Promise.all([server.close(), keySet.close()]);
    });

    async function start(env: Record<string, string> = {}) {
      [server, keySet] = await Promise.all([startIntrospectionServer(), startJwksServer(jwks(k1, k2))]);
      tokens = await tokensFrom(server, keySet.url, { JWKS_COOLDOWN_SECONDS: '0', ...env });
      ({ app } = await buildTestApp({ tokens: tokens.verifier, claims: tokens.claims }));
    }

    it('are looked up again once a fetch leaves their key out, and refused, as an answer not yet cached is', async () => {
      await start();
      await signed('cached', k1);
      expect(await decide('cached')).toMatchObject({ reasons: [expect.not.objectContaining({ code: 'invalid_token' })] });
      keySet.publish(jwks(k2));
      await fetchAgain();
      expect(await decide('cached')).toMatchObject({
        decision: 'deny',
        reasons: [{ code: 'invalid_token', detail: 'introspection unavailable: signed answer not verified (ERR_JWKS_NO_MATCHING_KEY)' }],
      });
      expect(server.requestsFor('cached')).toBe(2);
    });

    it('are looked up again once a fetch lists no key for the accepted algorithms, and refused naming the key set', async () => {
      await start({ JWT_ALGORITHMS: 'ES256' });
      await signed('cached', k1);
      expect(await decide('cached')).toMatchObject({ reasons: [expect.not.objectContaining({ code: 'invalid_token' })] });
      keySet.publish(jwks(await signingKey('as-rsa', 'RS256')));
      await fetchAgain();
      expect(await decide('cached')).toMatchObject({
        decision: 'deny',
        reasons: [{ code: 'invalid_token', detail: expect.stringMatching(/^introspection unavailable: signed answer not verified \(key set unavailable: answered a key set with no key for the accepted algorithms \(ES256\): /) }],
      });
      expect(server.requestsFor('cached')).toBe(2);
      expect(tokens.keySets()).toEqual([{ url: keySet.url, state: 'missing' }]);
    });

    it('are still answered from the cache when a fetch only adds keys, or brings the same ones', async () => {
      await start();
      await signed('cached', k1);
      expect(await decide('cached')).toMatchObject({ reasons: [expect.not.objectContaining({ code: 'invalid_token' })] });
      const fetched = keySet.requests;
      await fetchAgain();
      keySet.publish(jwks(k1, k2, await signingKey('as-3')));
      await fetchAgain();
      expect(keySet.requests).toBe(fetched + 2);
      expect(await decide('cached')).toMatchObject({ reasons: [expect.not.objectContaining({ code: 'invalid_token' })] });
      expect(server.requestsFor('cached')).toBe(1);
    });
  });
});

describe('JWT access tokens without a JWT issuer configured', () => {
  let server: IntrospectionServer;
  let key: SigningKey;
  const built: Tokens[] = [];

  beforeAll(async () => {
    server = await startIntrospectionServer();
    key = await signingKey('as-1');
  });
  afterAll(async () => {
    for (const tokens of built) tokens.close();
    await server.close();
  });

  async function decide(env: NodeJS.ProcessEnv, token: string) {
    const tokens = await tokensFromConfig(loadConfig(env));
    built.push(tokens);
    const { app } = await buildTestApp({ tokens: tokens.verifier, claims: tokens.claims });
    return readJson(await postJson(app, '/decide', { token, ...question }));
  }

  it('are introspected, so a revoked one is refused', async () => {
    const env = { INTROSPECTION_URL: server.url, INTROSPECTION_CLIENT_ID: server.clientId, INTROSPECTION_CLIENT_SECRET: server.clientSecret };
    const live = await sign(key, claims, { issuer: asIssuer, audience: 'invoice-api' });
    const revoked = await sign(key, { ...claims, jti: 'revoked' }, { issuer: asIssuer, audience: 'invoice-api' });
    server.answer(live, { body: { active: true, iss: asIssuer, exp: epoch() + 600, ...claims } });
    server.answer(revoked, { body: { active: false } });
    expect(await decide(env, live)).toMatchObject({ decision: 'permit' });
    expect(await decide(env, revoked)).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'token is not active' }] });
    expect(server.requestsFor(live)).toBe(1);
  });

  it('are refused, naming both settings, when introspection is not configured either', async () => {
    const jwt = await sign(key, claims, { issuer: asIssuer, audience: 'invoice-api' });
    expect(await decide({}, jwt)).toMatchObject({
      decision: 'deny',
      reasons: [{ code: 'invalid_token', detail: 'no JWT issuer or introspection endpoint is configured' }],
    });
  });
});

describe('a token issued in the future, not yet valid or expired, verified as a JWT or introspected', () => {
  let server: IntrospectionServer;
  let keySet: JwksServer;
  let key: SigningKey;
  const built: Tokens[] = [];

  beforeAll(async () => {
    key = await signingKey('as-1');
    [server, keySet] = await Promise.all([startIntrospectionServer(), startJwksServer(jwks(key))]);
  });
  afterAll(async () => {
    for (const tokens of built) tokens.close();
    await Promise.all([server.close(), keySet.close()]);
  });

  /** The phantom-token setup: JWTs verified with the key set, opaque tokens introspected. */
  async function appWith(env: Record<string, string>) {
    const tokens = await tokensFromConfig(loadConfig({
      JWKS_URL: keySet.url,
      JWT_ISSUER: asIssuer,
      JWT_AUDIENCE: 'invoice-api',
      INTROSPECTION_URL: server.url,
      INTROSPECTION_CLIENT_ID: server.clientId,
      INTROSPECTION_CLIENT_SECRET: server.clientSecret,
      ...env,
    }));
    built.push(tokens);
    const { app } = await buildTestApp({ tokens: tokens.verifier, claims: tokens.claims });
    return async (token: string) => readJson(await postJson(app, '/decide', { token, ...question }));
  }

  /**
   * One token in both forms, with the times given: a JWT signed with `key`, and `opaque`, which the
   * introspection server answers active with the same claims.
   */
  async function bothForms(opaque: string, times: { readonly iat: number; readonly nbf?: number; readonly exp: number }): Promise<{ jwt: string; opaque: string }> {
    const jwt = new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid }).setIssuer(asIssuer).setAudience('invoice-api').setIssuedAt(times.iat).setExpirationTime(times.exp);
    if (times.nbf !== undefined) jwt.setNotBefore(times.nbf);
    server.answer(opaque, { body: { active: true, iss: asIssuer, ...claims, ...times } });
    return { jwt: await jwt.sign(key.privateKey), opaque };
  }

  it.each([
    ['ahead within the clock tolerance (30 s)', {}, 20, undefined],
    ['ahead beyond it', {}, 120, 'claim "iat" invalid: in the future'],
    ['ahead beyond a JWT_CLOCK_TOLERANCE_SECONDS of 0', { JWT_CLOCK_TOLERANCE_SECONDS: '0' }, 20, 'claim "iat" invalid: in the future'],
  ])('is taken or refused alike, its iat %s', async (_, env: Record<string, string>, ahead, detail) => {
    const iat = epoch() + ahead;
    const { jwt, opaque } = await bothForms(`issued-ahead-${ahead}-${JSON.stringify(env)}`, { iat, exp: iat + 600 });
    const decide = await appWith(env);
    const expected = detail === undefined ? { decision: 'permit' } : { decision: 'deny', reasons: [{ code: 'invalid_token', detail }] };
    expect(await decide(jwt)).toMatchObject(expected);
    expect(await decide(opaque)).toMatchObject(expected);
  });

  it.each([
    ['ahead within the clock tolerance (30 s): an authorization server whose clock runs ahead', {}, 20, undefined],
    ['ahead beyond it', {}, 120, 'token not yet valid'],
    ['ahead beyond a JWT_CLOCK_TOLERANCE_SECONDS of 0', { JWT_CLOCK_TOLERANCE_SECONDS: '0' }, 20, 'token not yet valid'],
  ])('is taken or refused alike, its nbf %s', async (_, env: Record<string, string>, ahead, detail) => {
    const nbf = epoch() + ahead;
    const { jwt, opaque } = await bothForms(`valid-ahead-${ahead}-${JSON.stringify(env)}`, { iat: epoch(), nbf, exp: nbf + 600 });
    const decide = await appWith(env);
    const expected = detail === undefined ? { decision: 'permit' } : { decision: 'deny', reasons: [{ code: 'invalid_token', detail }] };
    expect(await decide(jwt)).toMatchObject(expected);
    expect(await decide(opaque)).toMatchObject(expected);
  });

  it.each([
    ['passed within the clock tolerance (30 s): an authorization server whose clock runs behind', {}, 20, undefined],
    ['passed beyond it', {}, 120, 'token expired'],
    ['passed beyond a JWT_CLOCK_TOLERANCE_SECONDS of 0', { JWT_CLOCK_TOLERANCE_SECONDS: '0' }, 20, 'token expired'],
  ])('is taken or refused alike, its exp %s', async (_, env: Record<string, string>, ago, detail) => {
    const exp = epoch() - ago;
    const { jwt, opaque } = await bothForms(`expired-${ago}-${JSON.stringify(env)}`, { iat: exp - 600, exp });
    const decide = await appWith(env);
    const expected = detail === undefined ? { decision: 'permit' } : { decision: 'deny', reasons: [{ code: 'invalid_token', detail }] };
    expect(await decide(jwt)).toMatchObject(expected);
    expect(await decide(opaque)).toMatchObject(expected);
  });

  it('refuses an introspected iat that is not a number, as jose refuses it in a JWT', async () => {
    server.answer('iat-string', { body: { active: true, iss: asIssuer, ...claims, iat: String(epoch() + 3_600), exp: epoch() + 600 } });
    const decide = await appWith({});
    expect(await decide('iat-string')).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: '"iat" is not a number' }] });
  });
});

describe('a signed answer (RFC 9701) from an authorization server whose clock is off', () => {
  let server: IntrospectionServer;
  let asKey: SigningKey;
  const built: Tokens[] = [];

  beforeAll(async () => {
    [server, asKey] = await Promise.all([startIntrospectionServer(), signingKey('as-signing')]);
  });
  afterAll(async () => {
    for (const tokens of built) tokens.close();
    await server.close();
  });

  async function decide(token: string, env: Record<string, string> = {}) {
    const keys = join(await tempDir({ 'as-keys.json': jwks(asKey) }), 'as-keys.json');
    const tokens = await tokensFromConfig(loadConfig({
      INTROSPECTION_URL: server.url,
      INTROSPECTION_CLIENT_ID: server.clientId,
      INTROSPECTION_CLIENT_SECRET: server.clientSecret,
      INTROSPECTION_JWKS_FILE: keys,
      INTROSPECTION_JWT_ISSUER: asIssuer,
      ...env,
    }));
    built.push(tokens);
    const { app } = await buildTestApp({ tokens: tokens.verifier, claims: tokens.claims });
    return readJson(await postJson(app, '/decide', { token, ...question }));
  }

  /** An answer the server signs at its own `now`, valid for a minute from then, as a JWT it issues. */
  const answerAt = (serverNow: number) =>
    new SignJWT({ token_introspection: { active: true, iss: asIssuer, ...claims, exp: epoch() + 600 } })
      .setProtectedHeader({ alg: asKey.alg, kid: asKey.kid, typ: 'token-introspection+jwt' })
      .setIssuer(asIssuer)
      .setAudience(server.clientId)
      .setIssuedAt(serverNow)
      .setNotBefore(serverNow)
      .setExpirationTime(serverNow + 60)
      .sign(asKey.privateKey);

  it.each([
    ['ahead', 10],
    ['behind', -65],
  ])('is taken with its clock %s of ours within JWT_CLOCK_TOLERANCE_SECONDS, as a JWT is', async (_, skew) => {
    const token = `signed-skewed-${skew}`;
    server.answer(token, { contentType: 'application/token-introspection+jwt', body: await answerAt(epoch() + skew) });
    expect(await decide(token)).toMatchObject({ decision: 'permit' });
  });

  it('is an outage when it says it was made beyond the tolerance ahead of our clock, as a JWT issued in the future is refused', async () => {
    const token = 'signed-issued-ahead';
    const answer = await new SignJWT({ token_introspection: { active: true, iss: asIssuer, ...claims, exp: epoch() + 1_200 } })
      .setProtectedHeader({ alg: asKey.alg, kid: asKey.kid, typ: 'token-introspection+jwt' })
      .setIssuer(asIssuer)
      .setAudience(server.clientId)
      .setIssuedAt(epoch() + 600)
      .setExpirationTime(epoch() + 1_200)
      .sign(asKey.privateKey);
    server.answer(token, { contentType: 'application/token-introspection+jwt', body: answer });
    expect(await decide(token)).toMatchObject({
      decision: 'deny',
      reasons: [{ code: 'invalid_token', detail: 'introspection unavailable: signed answer not verified (ERR_JWT_CLAIM_VALIDATION_FAILED)' }],
    });
  });

  it('is an outage beyond the tolerance', async () => {
    const token = 'signed-skewed-beyond';
    server.answer(token, { contentType: 'application/token-introspection+jwt', body: await answerAt(epoch() + 10) });
    expect(await decide(token, { JWT_CLOCK_TOLERANCE_SECONDS: '0' })).toMatchObject({
      decision: 'deny',
      reasons: [{ code: 'invalid_token', detail: 'introspection unavailable: signed answer not verified (ERR_JWT_CLAIM_VALIDATION_FAILED)' }],
    });
  });
});
