import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { CompactSign, createLocalJWKSet, exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { jsonLimits } from '../src/json-limits.js';
import { claimsCheck } from '../src/token/accept.js';
import { bindingProblem } from '../src/token/binding.js';
import { claimsToSubject } from '../src/token/claims.js';
import { createTokenVerifier } from '../src/token/token-verifier.js';
import { createJwtVerifier, defaultAlgorithms } from '../src/token/verify.js';
import { decideAnswer } from './helpers/answer-readers.js';
import { expectWellFormed, readAnswer } from './helpers/answers.js';
import { buildTestApp, postJson } from './helpers/app.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];
type Key = Parameters<SignJWT['sign']>[0];

const issuer = 'https://idp.test';
const audience = 'invoice-api';
const question = { action: 'read', resource: { type: 'invoice', id: 'inv-1', properties: { region: 'EU' } } };
// Claims that earn a permit for `question` through the admin scope.
const adminClaims: JWTPayload = { sub: 'alice', scope: 'invoice.admin', roles: ['accountant'], region: 'EU' };

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const unb64 = (segment: string): unknown => JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
const base64urlAlphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

async function sign(claims: JWTPayload, key: Key, header: { alg: string; kid?: string; typ?: string }, lifetime = '1h'): Promise<string> {
  return new SignJWT(claims).setProtectedHeader(header).setIssuer(issuer).setAudience(audience).setIssuedAt().setExpirationTime(lifetime).sign(key);
}

/**
 * Same header and payload text, and a signature that decodes to the same bytes (base64url
 * leaves slack in the last character, and decoders skip padding and whitespace): the same
 * signed content, which may rightly still be accepted.
 */
function sameToken(candidate: string, original: string): boolean {
  const [h, p, s, ...rest] = candidate.split('.');
  const [oh, op, os] = original.split('.');
  return rest.length === 0 && h === oh && p === op && s !== undefined && os !== undefined && Buffer.from(s, 'base64url').equals(Buffer.from(os, 'base64url'));
}

describe('token fuzzing: mutated JWTs never earn a permit', () => {
  let app: App;
  let good: string;
  let goodRsa: string;
  let attackerToken: string;
  let rsaPublicPem: string;
  let ecKey: Key;
  let attackerKey: Key;
  let attackerJwk: Record<string, unknown>;

  beforeAll(async () => {
    const ec = await generateKeyPair('ES256', { extractable: true });
    const rsa = await generateKeyPair('RS256', { extractable: true });
    const attacker = await generateKeyPair('ES256', { extractable: true });
    ecKey = ec.privateKey;
    attackerKey = attacker.privateKey;
    attackerJwk = { ...(await exportJWK(attacker.publicKey)), kid: 'ec-1' };
    rsaPublicPem = await exportSPKI(rsa.publicKey);
    const jwks = {
      keys: [
        { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
        { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
      ],
    };
    const jwt = createJwtVerifier({ keys: createLocalJWKSet(jwks), issuer, audience: [audience], algorithms: [...defaultAlgorithms] });
    // As tokensFromConfig composes it, with room for tokens as long as a request string may be.
    const tokens = createTokenVerifier({ jwt, accept: claimsCheck(claimsToSubject, bindingProblem('refuse', new Map())), maxTokenLength: jsonLimits.maxString });
    ({ app } = await buildTestApp({ tokens }));
    good = await sign(adminClaims, ec.privateKey, { alg: 'ES256', kid: 'ec-1', typ: 'JWT' });
    goodRsa = await sign(adminClaims, rsa.privateKey, { alg: 'RS256', kid: 'rsa-1' });
    attackerToken = await sign(adminClaims, attacker.privateKey, { alg: 'ES256', kid: 'ec-1' });
  });

  async function decideWith(token: string) {
    const answer = await readAnswer(await postJson(app, '/decide', { token, ...question }));
    expectWellFormed(answer);
    if (answer.status === 200) decideAnswer(answer.body);
    return answer;
  }

  async function expectDenied(token: string) {
    const answer = await decideWith(token);
    if (answer.status === 200) {
      expect(answer.body['decision'], token).toBe('deny');
      expect(answer.body['reasons']).toEqual([expect.objectContaining({ code: 'invalid_token' })]);
    } else {
      expect(answer.status).toBe(400);
    }
  }

  it('permits with the untouched tokens (so a deny below means the mutation was caught)', async () => {
    for (const token of [good, goodRsa]) expect((await decideWith(token)).body['decision']).toBe('permit');
  });

  it('denies a token with any character changed, anywhere, unless it decodes to the same token', async () => {
    const replacement = fc.oneof(fc.constantFrom(...base64urlAlphabet), fc.constantFrom('=', '+', '/', ' ', '.', '%', '\u00e9', '\u0000'));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('ec', 'rsa'), fc.nat(), replacement, async (which, at, char) => {
        const original = which === 'ec' ? good : goodRsa;
        const index = at % original.length;
        const mutated = original.slice(0, index) + char + original.slice(index + 1);
        fc.pre(!sameToken(mutated, original));
        await expectDenied(mutated);
      }),
      { numRuns: 300 },
    );
  });

  it('denies tokens cut, extended, or with segments swapped, repeated or borrowed from another key', async () => {
    const mutation = fc.oneof(
      fc.nat().map((n) => (t: string) => t.slice(0, n % t.length)),
      fc.constantFrom('.', '..', '.x', ' ', '=', '.e30').map((suffix) => (t: string) => t + suffix),
      fc.constantFrom([1, 0, 2], [0, 2, 1], [2, 1, 0], [0, 1, 1], [0, 0, 2], [0, 1], [0, 1, 2, 2]).map((order) => (t: string) => {
        const parts = t.split('.');
        return order.map((i) => parts[i]).join('.');
      }),
      fc.constantFrom(0, 1, 2).map((segment) => (t: string) => {
        const parts = t.split('.');
        parts[segment] = attackerToken.split('.')[segment] ?? '';
        return parts.join('.');
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('ec', 'rsa'), mutation, async (which, mutate) => {
        const original = which === 'ec' ? good : goodRsa;
        const mutated = mutate(original);
        fc.pre(mutated.length > 0 && !sameToken(mutated, original));
        await expectDenied(mutated);
      }),
      { numRuns: 200 },
    );
  });

  it('denies a token whose header is re-encoded (alg, kid, typ, crit, an embedded key) over the original signature', async () => {
    const header = fc.record(
      {
        alg: fc.constantFrom('none', 'None', 'HS256', 'HS512', 'RS256', 'ES384', 'PS256', 'EdDSA', 'es256', ''),
        kid: fc.oneof(fc.constantFrom('ec-1', 'rsa-1', 'other', '', '../../etc/passwd', "' OR 1=1 --"), fc.integer()),
        typ: fc.constantFrom('JWT', 'at+jwt', '', 'JWE'),
        crit: fc.constantFrom(['exp'], ['b64'], [], ['kid']),
        b64: fc.constant(false),
        jwk: fc.constant('attacker'),
        jku: fc.constant('http://127.0.0.1:1/jwks.json'),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(header, async (changes) => {
        const [h, p, s] = good.split('.');
        const edited = { ...(unb64(h ?? '') as Record<string, unknown>), ...changes, ...(changes.jwk !== undefined && { jwk: attackerJwk }) };
        const mutated = `${b64(edited)}.${p}.${s}`;
        fc.pre(!sameToken(mutated, good));
        await expectDenied(mutated);
      }),
      { numRuns: 200 },
    );
  });

  it('denies a token whose payload is re-encoded (escalated, extended, re-dated) over the original signature', async () => {
    const claims = fc.record(
      {
        scope: fc.constantFrom('invoice.admin', 'invoice.admin invoice.write'),
        sub: fc.constantFrom('alice', 'bob', ''),
        exp: fc.constantFrom(4_102_444_800, 0, -1, 1e308),
        aud: fc.constantFrom(audience, [audience, 'other'], 'other'),
        iss: fc.constantFrom(issuer, `${issuer}/`, ''),
        roles: fc.constant(['finance_manager']),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(claims, fc.boolean(), async (changes, reorder) => {
        const [h, p, s] = good.split('.');
        const payload = unb64(p ?? '') as Record<string, unknown>;
        const edited = reorder ? { ...changes, ...payload } : { ...payload, ...changes };
        const mutated = `${h}.${b64(edited)}.${s}`;
        fc.pre(!sameToken(mutated, good));
        await expectDenied(mutated);
      }),
      { numRuns: 200 },
    );
  });

  it('denies the classic forgeries: alg none, HMAC keyed with the public key, a stranger key under our kid', async () => {
    const [, payload] = good.split('.');
    const hmacWithPublicKey = await sign(adminClaims, new TextEncoder().encode(rsaPublicPem), { alg: 'HS256', kid: 'rsa-1' });
    for (const forged of [
      `${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`,
      `${b64({ alg: 'none' })}.${payload}`,
      hmacWithPublicKey,
      attackerToken,
      await sign(adminClaims, attackerKey, { alg: 'ES256' }),
    ]) {
      await expectDenied(forged);
    }
  });

  it('denies correctly signed tokens that are expired, not yet valid, or for another issuer or audience', async () => {
    const now = Math.floor(Date.now() / 1000);
    const build = (claims: JWTPayload) => new SignJWT({ ...adminClaims, ...claims }).setProtectedHeader({ alg: 'ES256', kid: 'ec-1' });
    for (const token of [
      await build({ iss: issuer, aud: audience, exp: now - 3600 }).sign(ecKey),
      await build({ iss: issuer, aud: audience, exp: now + 3600, nbf: now + 3600 }).sign(ecKey),
      await build({ iss: 'https://evil.test', aud: audience, exp: now + 3600 }).sign(ecKey),
      await build({ iss: issuer, aud: 'another-api', exp: now + 3600 }).sign(ecKey),
    ]) {
      await expectDenied(token);
    }
  });

  it('denies correctly signed tokens whose claims exceed the JSON limits', async () => {
    const roles = Array.from({ length: jsonLimits.maxCollection + 1 }, (_, i) => `r${i}`);
    let deep: unknown = 'x';
    for (let i = 0; i < jsonLimits.maxDepth; i++) deep = { d: deep };
    // A claim string cannot outgrow maxString: the whole token is capped at 16,384 characters.
    for (const claims of [{ roles }, { nested: deep }]) {
      const token = await sign({ ...adminClaims, ...claims }, ecKey, { alg: 'ES256', kid: 'ec-1' });
      const answer = await decideWith(token);
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      expect(answer.body['decision']).toBe('deny');
      expect(answer.body['reasons']).toEqual([expect.objectContaining({ code: 'invalid_token', detail: expect.stringContaining('claims beyond the limits') })]);
    }
  });

  it('denies correctly signed tokens holding a number too large for a double', async () => {
    // JSON.parse reads 1e400 as Infinity: an approval limit no amount could exceed.
    const now = Math.floor(Date.now() / 1000);
    const claims = JSON.stringify({ ...adminClaims, iss: issuer, aud: audience, iat: now, exp: now + 3600, approval_limit: '@' });
    const payload = new TextEncoder().encode(claims.replace('"@"', '1e400'));
    const token = await new CompactSign(payload).setProtectedHeader({ alg: 'ES256', kid: 'ec-1' }).sign(ecKey);
    const answer = await decideWith(token);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body['decision']).toBe('deny');
    expect(answer.body['reasons']).toEqual([expect.objectContaining({ code: 'invalid_token', detail: expect.stringContaining('$.approval_limit number beyond the range of a double') })]);
  });
});
