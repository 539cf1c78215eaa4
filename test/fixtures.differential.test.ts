import { join } from 'node:path';
import fc from 'fast-check';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CacheSetup } from '../src/cache/from-config.js';
import { loadConfig } from '../src/config.js';
import { tokensFromConfig, type Tokens } from '../src/token/from-config.js';
import { expectationOf, okBody } from './helpers/answers.js';
import { buildTestApp, postJson } from './helpers/app.js';
import { cacheFromEnv } from './helpers/cache.js';
import { runCli } from './helpers/cli.js';
import { tempDir, writeFiles } from './helpers/policy-dir.js';
import { jwks, makeKey, sign, type SigningKey } from './helpers/tokens.js';

/**
 * What the offline tools decide against what the service decides, where test/interfaces.differential
 * cannot look: claims mapped by settings (CLAIM_ROLES with a nested path, CLAIM_ROLE_PREFIXES) and
 * by an issuer's entry (its own roles claim and subject type, chosen by `iss`), entity data whose
 * `authoritative` claim is a nested object, subjects without a type, resources without an id, and
 * a rule reading `now` (a fixture's `now`, the service's clock). The same questions go to
 * `/decide` with a stated subject (cached), explained, through a token of the issuer its claims
 * name, as an AuthZEN evaluation, through `pdp test --coverage` (each answer as a case) and
 * `pdp check`, the tools reading the service's settings from the same environment.
 */

const policy = {
  id: 'docs',
  resource: 'doc',
  rules: [
    { id: 'D-suspended', effect: 'deny', actions: ['*'], roles: ['suspended'] },
    { id: 'D-late', effect: 'deny', actions: ['write'], condition: 'now.getHours() >= 22' },
    { id: 'P-read', effect: 'permit', actions: ['read'], roles: ['reader', 'editor'], condition: 'resource.properties.team == subject.properties.team' },
    { id: 'P-write', effect: 'permit', actions: ['write'], roles: ['editor'], scopes: ['doc.write'] },
    { id: 'P-owner', effect: 'permit', actions: ['read', 'write'], condition: 'resource.properties.owner == subject.id || resource.properties.owner in subject.aliases' },
    { id: 'P-partner', effect: 'permit', actions: ['share'], condition: 'subject.type == "partner" && context.ok == true' },
  ],
};

const entities = [
  { type: 'user', id: 'u1', aliases: ['one@example.com'], properties: { roles: ['doc-reader'], team: 'a', scope: 'doc.write' } },
  { type: 'user', id: 'u2', properties: { authz: { roles: ['editor'] }, team: 'b' }, authoritative: ['authz'] },
  { type: 'user', id: 'u3', properties: { roles: ['suspended'], groups: ['editor'] }, authoritative: ['roles'] },
  { type: 'partner', id: 'u1', properties: { groups: ['doc-editor'], team: 'p' } },
  { type: 'doc', id: 'd1', aliases: ['DOC-1'], properties: { team: 'a', owner: 'one@example.com' } },
  { type: 'doc', id: 'd2', properties: { team: 'b', owner: 'u2' } },
];

const idp = 'https://idp.example';
const partner = 'https://partner.example';
const audience = 'docs-api';
/** Instants the service's clock shows while a question is asked, a case's `now` and `pdp check --now` then. */
const instants = ['2025-03-03T09:00:00Z', '2025-03-03T22:30:00+01:00', '2025-03-03T23:59:59.999Z'];

const roleClaim = fc.oneof(fc.subarray(['reader', 'editor', 'doc-editor', 'suspended', 'doc-']), fc.constantFrom('reader editor', 'doc-reader', ''));
const claims = fc.record(
  {
    roles: roleClaim,
    role: fc.constantFrom('editor', 'doc-reader'),
    authz: fc.record({ roles: roleClaim }, { requiredKeys: [] }),
    groups: roleClaim,
    scope: fc.constantFrom('doc.write', '', 'doc.read doc.write'),
    scp: fc.subarray(['doc.write']),
    team: fc.constantFrom('a', 'b', 'p'),
    iss: fc.constantFrom(idp, partner, 'https://elsewhere.example'),
  },
  { requiredKeys: [] },
);

interface Question {
  readonly subject: { readonly type?: string; readonly id: string; readonly properties?: Readonly<Record<string, unknown>> };
  readonly action: string;
  readonly resource: { readonly type: string; readonly id?: string; readonly properties?: Readonly<Record<string, unknown>> };
  readonly context?: Readonly<Record<string, unknown>>;
}

const questions: fc.Arbitrary<Question> = fc.record(
  {
    subject: fc.record({ type: fc.constantFrom('user', 'user', 'user', 'partner', 'User'), id: fc.constantFrom('u1', 'one@example.com', 'u2', 'u3', 'U1', 'u9'), properties: claims }, { requiredKeys: ['id'] }),
    action: fc.constantFrom('read', 'read', 'write', 'write', 'share', 'Read'),
    resource: fc.record(
      {
        type: fc.constantFrom('doc', 'doc', 'doc', 'doc', 'Doc'),
        id: fc.constantFrom('d1', 'DOC-1', 'd2', 'd9', 'D1'),
        properties: fc.record({ team: fc.constantFrom('a', 'b', 'p'), owner: fc.constantFrom('u1', 'one@example.com', 'u2') }, { requiredKeys: [] }),
      },
      { requiredKeys: ['type'] },
    ),
    context: fc.record({ ok: fc.boolean() }, { requiredKeys: [] }),
  },
  { requiredKeys: ['subject', 'action', 'resource'] },
);

interface Answered {
  readonly decision: unknown;
  readonly reasons: unknown;
}

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

const answer = async (app: App, path: string, body: unknown) => okBody(await postJson(app, path, body));

async function viaDecide(app: App, body: unknown, query = ''): Promise<Answered> {
  const { decision, reasons } = await answer(app, `/decide${query}`, body);
  return { decision, reasons };
}

describe('pdp test, pdp check and the service decide alike under configured claim mapping and entity data', () => {
  let dir: string;
  let env: Record<string, string>;
  let tokens: Tokens;
  let key: SigningKey;
  let plain: App;
  let cached: App;
  let cache: CacheSetup;
  const asked: { question: Question; now: string; answer: Answered }[] = [];
  let now = instants[0] as string;

  beforeAll(async () => {
    const made = await tempDir('pdp-fixtures-differential-');
    dir = made.path;
    key = await makeKey('ES256');
    await writeFiles(dir, {
      'docs.json': policy,
      'data/entities.json': { entities },
      '.keys/jwks.json': jwks([key]),
      '.keys/tokens.json': { issuers: [{ issuer: partner, jwksFile: 'jwks.json', audience, claims: { roles: ['groups'], subjectType: 'partner' } }] },
    });
    env = {
      JWKS_FILE: join(dir, '.keys/jwks.json'),
      JWT_ISSUER: idp,
      JWT_AUDIENCE: audience,
      TOKEN_CONFIG_FILE: join(dir, '.keys/tokens.json'),
      CLAIM_ROLES: 'roles,role,authz.roles',
      CLAIM_ROLE_PREFIXES: 'doc-',
    };
    tokens = await tokensFromConfig(loadConfig(env));
    const clock = () => new Date(now);
    ({ app: plain } = await buildTestApp({ policyDir: dir, tokens: tokens.verifier, claims: tokens.claims, clock }));
    cache = await cacheFromEnv({ CACHE_MEMORY_ENTRIES: '10000' });
    ({ app: cached } = await buildTestApp({ policyDir: dir, tokens: tokens.verifier, claims: tokens.claims, clock, cache: cache.cache }));
    return made.remove;
  });
  afterAll(async () => {
    tokens.close();
    await cache.close();
  });

  it('answers alike through /decide, cached or explained, a token of the issuer the claims name, and an AuthZEN evaluation', async () => {
    let permits = 0;
    let tokened = 0;
    await fc.assert(
      fc.asyncProperty(questions, fc.constantFrom(...instants), async (q, at) => {
        now = at;
        const expected = await viaDecide(plain, q);
        const seen: Record<string, Answered> = {
          cached: await viaDecide(cached, q),
          cachedAgain: await viaDecide(cached, q),
          explained: await viaDecide(cached, q, '?explain=true'),
        };
        if (q.subject.type !== undefined && q.resource.id !== undefined) {
          const evaluated = await answer(plain, '/access/v1/evaluation', { ...q, action: { name: q.action } });
          seen['evaluation'] = { decision: evaluated['decision'] === true ? 'permit' : 'deny', reasons: (evaluated['context'] as Record<string, unknown>)['reasons'] };
        }
        // A token states the claims too, with those a token adds (aud, exp, iat), which the
        // stated subject then carries as well: the subject is the token's, by its issuer's mapping.
        const { iss, ...stated } = q.subject.properties ?? {};
        if (iss === idp || iss === partner) {
          const token = await sign(key, { ...stated, sub: q.subject.id }, { iss, aud: audience });
          const rest = { action: q.action, resource: q.resource, context: q.context };
          const asStated = await viaDecide(plain, { subject: { id: q.subject.id, properties: decodeJwt(token) }, ...rest });
          expect(await viaDecide(plain, { token, ...rest }), `token: ${JSON.stringify(q)}`).toEqual(asStated);
          tokened++;
        }
        for (const [where, answered] of Object.entries(seen)) expect(answered, `${where}: ${JSON.stringify(q)}`).toEqual(expected);
        if (expected.decision === 'permit') permits++;
        asked.push({ question: q, now, answer: expected });
      }),
      { numRuns: 300 },
    );
    // Floors far below what the questions give (27–36 permits and 134–155 tokens in six runs,
    // 19 permits in one more): they prove each side was reached, whatever the random seed.
    expect(permits).toBeGreaterThan(8);
    expect(tokened).toBeGreaterThan(80);
  });

  it('passes every answer as a test case through pdp test --coverage, and pdp check gives the same reasons and trace', async () => {
    expect(asked.length).toBeGreaterThan(0);
    const cases = asked.map(({ question, now: at, answer: answered }, i) => ({ name: `question ${i}`, now: at, request: question, expect: expectationOf(answered) }));
    await writeFiles(dir, { 'tests/asked.json': { cases } });
    const tested = await runCli(['test', dir, '--coverage', '--json'], { env });
    const failed = tested.code === 0 ? [] : (JSON.parse(tested.stdout) as { cases?: { passed: boolean }[] }).cases?.filter((c) => !c.passed);
    expect(tested.code, JSON.stringify(failed ?? tested.stdout).slice(0, 2000)).toBe(0);
    for (const { question, now: at, answer: answered } of asked.slice(0, 8)) {
      const checked = await runCli(['check', dir, '--request', '-', '--now', at, '--json'], { input: JSON.stringify(question), env });
      expect(checked.code, checked.stderr).toBe(0);
      const verdict = JSON.parse(checked.stdout) as Record<string, unknown>;
      expect({ decision: verdict['decision'], reasons: verdict['reasons'] }, JSON.stringify(question)).toEqual(answered);
      now = at;
      expect(verdict['explain'], JSON.stringify(question)).toEqual((await answer(plain, '/decide?explain=true', question))['explain']);
    }
  }, 60_000);
});
