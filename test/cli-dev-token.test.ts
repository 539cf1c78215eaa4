import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli as runCliIn } from './helpers/cli.js';
import { runCli, startServer, type ServerProcess } from './helpers/process.js';
import { tempDir } from './helpers/tmp.js';

const issuer = 'https://idp.example';
const audience = 'invoice-api';
const claims = { sub: 'alice', roles: ['accountant'], scope: 'invoice.read', region: 'EU' };

async function readJsonFile(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
}

describe.concurrent('pdp keys and pdp token (process)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = join(await tempDir(), 'dev-keys');
    const run = await runCli(['keys', dir]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^wrote .*jwks\.json and .*private\.jwk\.json \(ES256, kid [\w-]{43}\)\n$/);
  });

  it('writes a public JWKS and an owner-only private JWK with the same kid', async () => {
    const jwks = await readJsonFile(join(dir, 'jwks.json'));
    const priv = await readJsonFile(join(dir, 'private.jwk.json'));
    expect(jwks.keys).toEqual([{ kty: 'EC', crv: 'P-256', x: expect.any(String), y: expect.any(String), kid: priv.kid, alg: 'ES256', use: 'sig' }]);
    expect(priv).toMatchObject({ kty: 'EC', d: expect.any(String), alg: 'ES256' });
    expect((await stat(join(dir, 'private.jwk.json'))).mode & 0o777).toBe(0o600);
  });

  it('never overwrites existing keys', async () => {
    const before = await readFile(join(dir, 'private.jwk.json'), 'utf8');
    const run = await runCli(['keys', dir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`pdp keys: ${join(dir, 'private.jwk.json')} exists already; nothing was written\n`);
    expect(await readFile(join(dir, 'private.jwk.json'), 'utf8')).toBe(before);
  });

  it('makes the folders above the directory that are missing', async () => {
    const nested = join(await tempDir(), 'a', 'b', 'keys');
    const run = await runCli(['keys', nested]);
    expect(run.code).toBe(0);
    expect((await readdir(nested)).sort()).toEqual(['jwks.json', 'private.jwk.json']);
  });

  it.runIf(process.platform === 'linux')('exits 1 for a directory that cannot be made under a folder that exists (/proc), where a recursive mkdir loops', async () => {
    for (const target of ['/proc/pdp-keys', '/proc/pdp-keys/nested']) {
      const run = await runCli(['keys', target]);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(new RegExp(`^pdp keys: cannot create ${target}: ENOENT`));
    }
  });

  it('writes a directory or key file name as one line whatever it holds: no line break or terminal escape of its own', async () => {
    const forged = join(await tempDir(), 'keys\nwrote x\u001b[2J');
    const escaped = forged.replace('\n', '\\u{a}').replace('\u001b', '\\u{1b}');
    const written = await runCli(['keys', forged]);
    expect(written.code).toBe(0);
    expect(written.stdout).toBe(`wrote ${escaped}/jwks.json and ${escaped}/private.jwk.json (ES256, kid ${(await readJsonFile(join(forged, 'private.jwk.json'))).kid as string})\n`);
    const again = await runCli(['keys', forged]);
    expect([again.code, again.stderr]).toEqual([1, `pdp keys: ${escaped}/private.jwk.json exists already; nothing was written\n`]);
    const token = await runCli(['token', '--key', join(forged, 'jwks.json'), '--iss', issuer, '--aud', audience, '--claims', JSON.stringify(claims)]);
    expect([token.code, token.stderr]).toEqual([1, `pdp token: ${escaped}/jwks.json is not a usable ES256 private JWK: it holds no private key ("d")\n`]);
  });

  it('writes no private key beside a key set that exists already, which it would not match', async () => {
    const other = join(await tempDir(), 'keys');
    await mkdir(other);
    await writeFile(join(other, 'jwks.json'), '{"keys":[]}');
    const run = await runCli(['keys', other]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`pdp keys: ${join(other, 'jwks.json')} exists already; nothing was written\n`);
    expect(await readdir(other)).toEqual(['jwks.json']);
  });

  it('prints a token that verifies against the JWKS, with the claims, issuer, audience and ttl', async () => {
    const run = await runCli(['token', '--key', join(dir, 'private.jwk.json'), '--iss', issuer, '--aud', audience, '--claims', JSON.stringify(claims), '--ttl', '600']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const token = run.stdout.trim();
    const keys = createLocalJWKSet(await readJsonFile(join(dir, 'jwks.json')) as never);
    const { payload } = await jwtVerify(token, keys, { issuer, audience, algorithms: ['ES256'] });
    expect(payload).toMatchObject({ ...claims, iss: issuer, aud: audience });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(600);
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'ES256', typ: 'JWT', kid: expect.any(String) });
  });

  it('defaults the ttl to an hour', async () => {
    const run = await runCli(['token', '--key', join(dir, 'private.jwk.json'), '--iss', issuer, '--aud', audience, '--claims', '{"sub":"alice"}']);
    const payload = JSON.parse(Buffer.from(run.stdout.trim().split('.')[1] ?? '', 'base64url').toString()) as Record<string, number>;
    expect(Object.keys(payload).sort()).toEqual(['aud', 'exp', 'iat', 'iss', 'sub']);
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(3600);
  });

  it.each([
    ['without a subject', {}],
    ['with a blank subject', { sub: ' \u200b' }],
  ])('refuses, exit 1, a token %s, which the server would deny', async (_, subject) => {
    const run = await runCli(['token', '--key', join(dir, 'private.jwk.json'), '--iss', issuer, '--aud', audience, '--claims', JSON.stringify({ ...subject, roles: ['accountant'] })]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^pdp token: the token names no subject, which the server denies \(invalid_token\): .*"sub" by CLAIM_SUBJECT.*\n$/);
  });

  it('refuses, exit 1, a sender-constrained token (cnf) the server would deny, and signs it with TOKEN_BINDING=checked-by-gateway', async () => {
    const args = ['token', '--key', join(dir, 'private.jwk.json'), '--iss', issuer, '--aud', audience, '--claims', JSON.stringify({ ...claims, cnf: { jkt: 'thumbprint' } })];
    const run = await runCli(args);
    expect(run).toMatchObject({ code: 1, stdout: '' });
    expect(run.stderr).toBe('pdp token: the server would deny this token (invalid_token): the token is sender-constrained (cnf): its proof of possession is not checked here; set TOKEN_BINDING=checked-by-gateway where the gateway checks it\n');
    const taken = await runCli(args, { TOKEN_BINDING: 'checked-by-gateway' });
    expect(taken).toMatchObject({ code: 0, stderr: '' });
    expect(decodeJwt(taken.stdout.trim())).toMatchObject({ cnf: { jkt: 'thumbprint' } });
  });

  it('types the token as its issuer requires: JWT_TYPE, or the type of its entry in TOKEN_CONFIG_FILE', async () => {
    const env = { JWKS_FILE: join(dir, 'jwks.json'), JWT_ISSUER: issuer, JWT_AUDIENCE: audience, JWT_TYPE: 'at+jwt' };
    const run = await runCli(['token', '--key', join(dir, 'private.jwk.json'), '--iss', issuer, '--aud', audience, '--claims', JSON.stringify(claims)], env);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(decodeProtectedHeader(run.stdout.trim())).toMatchObject({ typ: 'at+jwt' });
    const file = join(await tempDir(), 'tokens.json');
    await writeFile(file, JSON.stringify({ issuers: [{ issuer: 'https://other.example', jwksFile: join(dir, 'jwks.json'), audience, type: 'application/at+jwt' }] }));
    const other = await runCli(['token', '--key', join(dir, 'private.jwk.json'), '--iss', 'https://other.example', '--aud', audience, '--claims', JSON.stringify(claims)], { ...env, TOKEN_CONFIG_FILE: file });
    expect(other).toMatchObject({ code: 0, stderr: '' });
    expect(decodeProtectedHeader(other.stdout.trim())).toMatchObject({ typ: 'application/at+jwt' });
  });

  it('reads CLAIM_SUBJECT and TOKEN_MAX_LENGTH as the server does, refusing a token longer than it would take', async () => {
    const run = await runCli(['token', '--key', join(dir, 'private.jwk.json'), '--iss', issuer, '--aud', audience, '--claims', JSON.stringify({ oid: 'alice', note: 'n'.repeat(300) })], { CLAIM_SUBJECT: 'oid', TOKEN_MAX_LENGTH: '256' });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^pdp token: the token is \d+ characters, over TOKEN_MAX_LENGTH \(256\), which the server denies \(invalid_token\)\n$/);
  });

  it('signs a token of exactly TOKEN_MAX_LENGTH characters, which the server takes, and refuses one character longer', async () => {
    const args = ['token', '--key', join(dir, 'private.jwk.json'), '--iss', issuer, '--aud', audience, '--claims', JSON.stringify({ sub: 'alice', note: 'n'.repeat(300) })];
    const length = (await runCli(args)).stdout.trim().length;
    const atLimit = await runCli(args, { TOKEN_MAX_LENGTH: String(length) });
    expect(atLimit).toMatchObject({ code: 0, stderr: '' });
    expect(atLimit.stdout.trim()).toHaveLength(length);
    const over = await runCli(args, { TOKEN_MAX_LENGTH: String(length - 1) });
    expect(over.code).toBe(1);
    expect(over.stderr).toBe(`pdp token: the token is ${length} characters, over TOKEN_MAX_LENGTH (${length - 1}), which the server denies (invalid_token)\n`);
  });

  it('counts iat and exp, which it adds, towards the limit of 1,000 members, as the server does', async () => {
    // 996 claims with iss, aud, iat and exp make 1,000: taken; one more is over.
    const claims = (n: number) => JSON.stringify(Object.fromEntries([['sub', 'alice'], ...Array.from({ length: n - 1 }, (_, i) => [`c${String(i)}`, 0])]));
    const sign = (n: number) => runCli(['token', '--key', join(dir, 'private.jwk.json'), '--iss', issuer, '--aud', audience, '--claims', claims(n)], { TOKEN_MAX_LENGTH: '16384' });
    const within = await sign(996);
    expect(within.code).toBe(0);
    expect(Object.keys(decodeJwt(within.stdout.trim()))).toHaveLength(1000);
    const over = await sign(997);
    expect(over.code).toBe(1);
    expect(over.stderr).toBe('pdp token: --claims at $: object with more than 1000 members, which the server denies (invalid_token)\n');
  });

  it.each([
    ['no --iss', ['--aud', audience, '--claims', '{"sub":"alice"}'], 'token needs --key, --iss, --aud and --claims'],
    ['no --claims', ['--iss', issuer, '--aud', audience], 'token needs --key, --iss, --aud and --claims'],
    ['no --aud', ['--iss', issuer, '--claims', '{"sub":"alice"}'], 'token needs --key, --iss, --aud and --claims'],
    ['an empty --iss, which no server accepts', ['--iss', '', '--aud', audience, '--claims', '{"sub":"alice"}'], '--iss and --aud must not be empty'],
    ['an empty --aud, which no server accepts', ['--iss', issuer, '--aud', '', '--claims', '{"sub":"alice"}'], '--iss and --aud must not be empty'],
    ['claims that are null', ['--iss', issuer, '--aud', audience, '--claims', 'null'], '--claims must be a JSON object'],
    ['claims that are not JSON', ['--iss', issuer, '--aud', audience, '--claims', '{sub:'], '--claims at $: not valid JSON at line 1, column 2: "s" where a key in double quotes should be'],
    ['a claim written twice', ['--iss', issuer, '--aud', audience, '--claims', '{"sub":"alice","roles":["guest"],"roles":["admin"]}'], '--claims at $.roles: duplicate key'],
    ['a number a double does not hold', ['--iss', issuer, '--aud', audience, '--claims', '{"sub":"alice","employee_no":9007199254740993}'], '--claims at $.employee_no: 9007199254740993 is not exactly a double and would be read as 9007199254740992'],
    ['claims that are not an object', ['--iss', issuer, '--aud', audience, '--claims', '[1]'], '--claims must be a JSON object'],
    ['a ttl that is not a number', ['--iss', issuer, '--aud', audience, '--claims', '{"sub":"alice"}', '--ttl', '1h'], '--ttl must be a positive whole number'],
    ['a ttl of 0, a token expired when signed', ['--iss', issuer, '--aud', audience, '--claims', '{"sub":"alice"}', '--ttl', '0'], '--ttl must be a positive whole number'],
    ['an unknown option', ['--iss', issuer, '--aud', audience, '--claims', '{"sub":"alice"}', '--alg', 'none'], "Unknown option '--alg'"],
    ['claims the flags set', ['--iss', issuer, '--aud', audience, '--claims', '{"sub":"alice","iss":"https://other","exp":1}'], '--claims must not set iss, exp: iss comes from --iss, exp comes from --ttl'],
    ['the other claims the flags set', ['--iss', issuer, '--aud', audience, '--claims', '{"sub":"alice","aud":"other-api","iat":1}'], '--claims must not set aud, iat: aud comes from --aud, iat comes from --ttl'],
  ])('exits 2 with usage for %s', async (_, args, message) => {
    const run = await runCli(['token', '--key', join(dir, 'private.jwk.json'), ...args]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stderr).toContain('pdp help shows the usage');
    expect(run.stdout).toBe('');
  });

  it('exits 2 with usage for no --key, reading no key', async () => {
    const run = await runCli(['token', '--iss', issuer, '--aud', audience, '--claims', '{"sub":"alice"}']);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('pdp token: token needs --key, --iss, --aud and --claims (pdp help shows the usage)\n');
    expect(run.stdout).toBe('');
  });

  it.each([
    ['missing', 'nope.json', undefined, 'ENOENT'],
    ['JSON null', 'null.jwk.json', null, 'not a JSON object'],
    ['a directory', '.', undefined, 'not a regular file'],
    ['a public key', 'jwks.json', undefined, 'it holds no private key ("d")'],
    ['a key that does not import', 'bad.jwk.json', { kty: 'EC', crv: 'P-256', d: 'abc', x: 'x', y: 'y' }, 'Invalid keyData'],
    ['a key for another algorithm', 'hs.jwk.json', { kty: 'EC', crv: 'P-256', d: 'abc', x: 'x', y: 'y', alg: 'HS256' }, 'its "alg" is "HS256"'],
  ])('exits 1 in one line naming a key file that is %s', async (_, name, content, reason) => {
    if (content !== undefined) await writeFile(join(dir, name), JSON.stringify(content));
    const file = join(dir, name);
    const run = await runCli(['token', '--key', file, '--iss', issuer, '--aud', audience, '--claims', '{"sub":"alice"}']);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^pdp token: .* is not a usable ES256 private JWK: .*\n$/);
    expect(run.stderr).toContain(`pdp token: ${file} is not a usable ES256 private JWK: `);
    expect(run.stderr).toContain(reason);
  });

  it('exits 2 for keys without a directory', async () => {
    const run = await runCli(['keys']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('keys needs exactly one directory');
  });

  it('exits 2 for keys given two directories, writing neither', async () => {
    const cwd = await tempDir();
    const run = await runCliIn(['keys', 'a', 'b'], { cwd });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('keys needs exactly one directory');
    expect(await readdir(cwd)).toEqual([]);
  });

  it('exits 1 naming a directory that is a file, which it leaves as it is', async () => {
    const file = join(await tempDir(), 'keys');
    await writeFile(file, 'not a directory');
    const run = await runCli(['keys', file]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`pdp keys: cannot create ${file}: EEXIST: file already exists, mkdir '${file}'\n`);
    expect(await readFile(file, 'utf8')).toBe('not a directory');
  });

  it('exits 2 for an option keys does not take, rather than make a directory by its name; `--` passes one', async () => {
    const cwd = await tempDir();
    for (const option of ['--out', '-x']) {
      const run = await runCliIn(['keys', option], { cwd });
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`Unknown option '${option}'`);
    }
    expect(await readdir(cwd)).toEqual([]);
    expect((await runCliIn(['keys', '--', '-x'], { cwd })).code).toBe(0);
    expect(await readdir(join(cwd, '-x'))).toEqual(['jwks.json', 'private.jwk.json']);
  });
});

describe.concurrent("README's quick start with a real token, through the server process", () => {
  let dir: string;
  let server: ServerProcess;
  beforeAll(async () => {
    dir = join(await tempDir(), 'dev-keys');
    expect((await runCli(['keys', dir])).code).toBe(0);
    server = await startServer({ JWKS_FILE: join(dir, 'jwks.json'), JWT_ISSUER: issuer, JWT_AUDIENCE: audience });
  });
  afterAll(async () => {
    await server.stop();
  });

  async function decide(token: string, resource: object) {
    const res = await fetch(`${server.url}/decide`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, action: 'read', resource }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as Record<string, unknown>;
  }

  it('permits with a token from `pdp token`, and denies per policy and for a bad token', async () => {
    const run = await runCli(['token', '--key', join(dir, 'private.jwk.json'), '--iss', issuer, '--aud', audience, '--claims', JSON.stringify(claims)]);
    const token = run.stdout.trim();
    const eu = { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'EU' } };
    expect(await decide(token, eu)).toMatchObject({ decision: 'permit', reasons: [{ rule: 'P2-finance-read-own-region' }] });
    expect(await decide(token, { ...eu, properties: { ...eu.properties, region: 'US' } })).toMatchObject({ decision: 'deny' });
    const other = await runCli(['token', '--key', join(dir, 'private.jwk.json'), '--iss', 'https://other', '--aud', audience, '--claims', JSON.stringify(claims)]);
    expect(await decide(other.stdout.trim(), eu)).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token' }] });
  });

  it('answers /healthz and /readyz', async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${server.url}/readyz`)).json()).toMatchObject({ status: 'ready' });
  });
});

describe.concurrent('pdp token refuses what the server of the same environment denies, and signs what it takes (through the server process)', () => {
  const cognito = 'https://cognito.example';
  const rsa = 'https://rsa.example';
  const entra = 'https://entra.example';
  const nested = 'https://nested.example';
  const eu = { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: 'EU' } };
  let dir: string;
  let env: Record<string, string>;
  let server: ServerProcess;
  beforeAll(async () => {
    dir = join(await tempDir(), 'dev-keys');
    expect((await runCli(['keys', dir])).code).toBe(0);
    const { publicKey } = await generateKeyPair('RS256');
    await writeFile(join(dir, 'rsa.json'), JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' }] }));
    await writeFile(join(dir, 'tokens.json'), JSON.stringify({
      issuers: [
        { issuer: cognito, jwksFile: 'jwks.json', audience: ['client-1'], audienceClaim: 'client_id', type: 'at+jwt' },
        { issuer: rsa, jwksFile: 'rsa.json', audience: audience, algorithms: ['RS256'] },
        { issuer: entra, jwksFile: 'jwks.json', audience: audience, claims: { subject: 'oid' } },
        { issuer: nested, jwksFile: 'jwks.json', audience: ['client-1'], audienceClaim: 'ext.client_id' },
      ],
    }));
    env = { JWKS_FILE: join(dir, 'jwks.json'), JWT_ISSUER: issuer, JWT_AUDIENCE: `${audience},other-api`, TOKEN_CONFIG_FILE: join(dir, 'tokens.json') };
    server = await startServer(env);
  });
  afterAll(async () => {
    await server.stop();
  });

  async function decide(token: string) {
    const res = await fetch(`${server.url}/decide`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, action: 'read', resource: eu }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as Record<string, unknown>;
  }

  /** What `pdp token` would have printed had it signed: the same key, header and claims. */
  async function signedAnyway(iss: string, aud: string, payload: Record<string, unknown>, typ = 'JWT', ttl = 3600): Promise<string> {
    const jwk = await readJsonFile(join(dir, 'private.jwk.json'));
    return new SignJWT(payload)
      .setProtectedHeader({ alg: 'ES256', typ, kid: jwk.kid as string })
      .setIssuer(iss)
      .setAudience(aud)
      .setIssuedAt()
      .setExpirationTime(`${ttl}s`)
      .sign(await importJWK(jwk as JWK, 'ES256'));
  }

  const sign = (iss: string, aud: string, payload: object) => runCli(['token', '--key', join(dir, 'private.jwk.json'), '--iss', iss, '--aud', aud, '--claims', JSON.stringify(payload)], env);

  it.each([
    ['JWT_ISSUER with its first audience', issuer, audience, claims],
    ['JWT_ISSUER with another audience of JWT_AUDIENCE', issuer, 'other-api', claims],
    ['an issuer checking its audience in client_id, whatever "aud" says', cognito, 'anything', { ...claims, client_id: 'client-1' }],
    ['an issuer whose subject claim is oid', entra, audience, { ...claims, sub: 'someone-else', oid: 'alice' }],
    ['an issuer checking its audience at a dotted path', nested, 'anything', { ...claims, ext: { client_id: 'client-1' } }],
  ])('signs a token the server permits: %s', async (_, iss, aud, payload) => {
    const run = await sign(iss, aud, payload);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(await decide(run.stdout.trim())).toMatchObject({ decision: 'permit', reasons: [{ rule: 'P2-finance-read-own-region' }] });
  });

  it.each([
    [
      'an issuer the server does not accept',
      'https://b', audience, claims, 'JWT',
      `pdp token: --iss "https://b" is not an issuer the server accepts, which it denies (invalid_token): it accepts "${issuer}" (JWT_ISSUER), "${cognito}", "${rsa}", "${entra}", "${nested}" (TOKEN_CONFIG_FILE)\n`,
      'issuer not accepted',
    ],
    [
      'an audience the issuer does not accept',
      issuer, 'pdp', claims, 'JWT',
      `pdp token: --aud "pdp" is not an audience the server accepts from "${issuer}", which it denies (invalid_token): it accepts "${audience}", "other-api"\n`,
      'claim "aud" invalid: check_failed',
    ],
    [
      'no accepted audience in the claim the issuer checks it in',
      cognito, 'client-1', { ...claims, client_id: 'client-2' }, 'at+jwt',
      `pdp token: --claims: "client-2" in claim "client_id" is not an audience the server accepts from "${cognito}", which it checks there (TOKEN_CONFIG_FILE $.issuers[0].audienceClaim, not "aud"), and denies the token (invalid_token): it accepts "client-1"\n`,
      'claim "client_id" invalid: check_failed',
    ],
    [
      'no claim where the issuer checks the audience, whatever "aud" says',
      cognito, 'client-1', claims, 'at+jwt',
      `pdp token: --claims holds no claim "client_id", where the server checks the audience of "${cognito}" (TOKEN_CONFIG_FILE $.issuers[0].audienceClaim, not "aud"), and denies the token (invalid_token): it accepts "client-1"\n`,
      'claim "client_id" invalid: check_failed',
    ],
    [
      'no accepted audience at the dotted path the issuer checks it at',
      nested, 'client-1', { ...claims, ext: { client_id: 'client-2' } }, 'JWT',
      `pdp token: --claims: "client-2" in claim "ext.client_id" is not an audience the server accepts from "${nested}", which it checks there (TOKEN_CONFIG_FILE $.issuers[3].audienceClaim, not "aud"), and denies the token (invalid_token): it accepts "client-1"\n`,
      'claim "ext.client_id" invalid: check_failed',
    ],
    [
      'no claim at the dotted path the issuer checks the audience at',
      nested, 'client-1', { ...claims, ext: { clientId: 'client-1' } }, 'JWT',
      `pdp token: --claims holds no claim "ext.client_id" (a dotted path: {"ext": {"client_id": …}}), where the server checks the audience of "${nested}" (TOKEN_CONFIG_FILE $.issuers[3].audienceClaim, not "aud"), and denies the token (invalid_token): it accepts "client-1"\n`,
      'claim "ext.client_id" invalid: check_failed',
    ],
    [
      'an issuer whose algorithms leave out the key\'s',
      rsa, audience, claims, 'JWT',
      `pdp token: --key signs ES256, which the server does not accept from "${rsa}", and denies the token (invalid_token): it accepts RS256\n`,
      'algorithm not allowed',
    ],
  ])('refuses, exit 1, %s; the server denies that token', async (_, iss, aud, payload, typ, message, detail) => {
    const run = await sign(iss, aud, payload);
    expect(run).toMatchObject({ code: 1, stdout: '', stderr: message });
    expect(await decide(await signedAnyway(iss, aud, payload, typ))).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail }] });
  });

  it('refuses, exit 1, an nbf the token expires before, JWT_CLOCK_TOLERANCE_SECONDS allowed on both; the server denies that token', async () => {
    const payload = { ...claims, nbf: 99999999999 };
    const before = Math.floor(Date.now() / 1000);
    const run = await sign(issuer, audience, payload);
    expect(run).toMatchObject({ code: 1, stdout: '' });
    const [, exp, latest] = /^pdp token: --claims at \$\.nbf: 99999999999 is not before the token expires \(exp (\d+), --ttl 3600\), JWT_CLOCK_TOLERANCE_SECONDS \(30\) allowed on both, so the server denies it at every moment \(invalid_token\): give an nbf below (\d+), or a longer --ttl\n$/.exec(run.stderr) ?? [];
    expect(Number(exp)).toBeGreaterThanOrEqual(before + 3600);
    expect(Number(latest)).toBe(Number(exp) + 60);
    expect(await decide(await signedAnyway(issuer, audience, payload))).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'token not yet valid' }] });
  });

  it('refuses, exit 1, an nbf that is not a number; the server denies that token', async () => {
    const payload = { ...claims, nbf: '2030-01-01T00:00:00Z' };
    const run = await sign(issuer, audience, payload);
    expect(run).toMatchObject({ code: 1, stdout: '', stderr: 'pdp token: --claims at $.nbf: "2030-01-01T00:00:00Z" is not a number (a NumericDate, seconds since 1970), which the server denies (invalid_token)\n' });
    expect(await decide(await signedAnyway(issuer, audience, payload))).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'claim "nbf" invalid: invalid' }] });
  });

  it('signs a token with an nbf in the past, which the server permits, and one valid from a moment within its lifetime, which it is not yet', async () => {
    const now = Math.floor(Date.now() / 1000);
    const past = await sign(issuer, audience, { ...claims, nbf: now - 60 });
    expect(past).toMatchObject({ code: 0, stderr: '' });
    expect(await decide(past.stdout.trim())).toMatchObject({ decision: 'permit', reasons: [{ rule: 'P2-finance-read-own-region' }] });
    const later = await sign(issuer, audience, { ...claims, nbf: now + 1800 });
    expect(later).toMatchObject({ code: 0, stderr: '' });
    expect(decodeJwt(later.stdout.trim())).toMatchObject({ nbf: now + 1800 });
    expect(await decide(later.stdout.trim())).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'token not yet valid' }] });
  });

  it.each([
    ['--iss', ` ${issuer}`, `begins with whitespace (U+0020); a token's "iss" is compared exactly, so every token of this issuer would be denied as of an unknown issuer`, 'issuer not accepted'],
    ['--iss', `${issuer}\u200b`, `holds a control or invisible character (U+200B); a token's "iss" is compared exactly, so every token of this issuer would be denied as of an unknown issuer`, 'issuer not accepted'],
    ['--iss', `${issuer}/?tenant=acme`, 'has a query, which an issuer URL never has (OpenID Connect Discovery §3, RFC 8414 §2): give the issuer, not a discovery or key set URL', 'issuer not accepted'],
    ['--aud', `${audience} `, 'ends with whitespace (U+0020); a token\'s audience is compared exactly, so no token would be accepted for this one', 'claim "aud" invalid: check_failed'],
    ['--aud', 'invoice\u00adapi', 'holds a control or invisible character (U+00AD); a token\'s audience is compared exactly, so no token would be accepted for this one', 'claim "aud" invalid: check_failed'],
  ])('exits 2 for %s %j, which no setting of the server can equal (it refuses such a one at start), with or without its settings; the server denies that token', async (flag, value, problem, detail) => {
    const [iss, aud] = flag === '--iss' ? [value, audience] : [issuer, value];
    for (const settings of [{}, env]) {
      const run = await runCli(['token', '--key', join(dir, 'private.jwk.json'), '--iss', iss, '--aud', aud, '--claims', JSON.stringify(claims)], settings);
      expect(run).toMatchObject({ code: 2, stdout: '', stderr: `pdp token: ${flag}: ${problem} (pdp help shows the usage)\n` });
    }
    expect(await decide(await signedAnyway(iss, aud, claims))).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail }] });
  });

  it('refuses, exit 1, a key the issuer\'s key file does not hold, under another kid or its own; the server denies that token', async () => {
    const other = join(await tempDir(), 'other-keys');
    expect((await runCli(['keys', other])).code).toBe(0);
    const otherKey = await readJsonFile(join(other, 'private.jwk.json'));
    const ownKid = (await readJsonFile(join(dir, 'private.jwk.json'))).kid as string;
    await writeFile(join(other, 'same-kid.jwk.json'), JSON.stringify({ ...otherKey, kid: ownKid }));
    for (const [file, kid, detail] of [
      [join(other, 'private.jwk.json'), otherKey.kid as string, 'no matching key in the key set'],
      [join(other, 'same-kid.jwk.json'), ownKid, 'signature verification failed'],
    ] as const) {
      for (const [iss, setting, keyFile] of [[issuer, 'JWKS_FILE', join(dir, 'jwks.json')], [cognito, 'TOKEN_CONFIG_FILE $.issuers[0].jwksFile', join(dir, 'jwks.json')]] as const) {
        const payload = iss === cognito ? { ...claims, client_id: 'client-1' } : claims;
        const run = await runCli(['token', '--key', file, '--iss', iss, '--aud', audience, '--claims', JSON.stringify(payload)], env);
        expect(run).toMatchObject({ code: 1, stdout: '', stderr: `pdp token: --key ${file} (kid ${kid}) is no key of the key set the server checks tokens of "${iss}" with (${keyFile}, ${setting}), which denies the token (invalid_token)\n` });
        const token = await new SignJWT(payload)
          .setProtectedHeader({ alg: 'ES256', typ: iss === cognito ? 'at+jwt' : 'JWT', kid })
          .setIssuer(iss)
          .setAudience(audience)
          .setIssuedAt()
          .setExpirationTime('1h')
          .sign(await importJWK(await readJsonFile(file) as JWK, 'ES256'));
        expect(await decide(token)).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail }] });
      }
    }
  });

  it('refuses, exit 1, claims without the subject claim of the issuer\'s mapping, naming that claim and where it is set; the server denies that token', async () => {
    const run = await sign(entra, audience, claims);
    expect(run).toMatchObject({
      code: 1,
      stdout: '',
      stderr: `pdp token: the token names no subject, which the server denies (invalid_token): set the subject claim in --claims to a string that is not empty or blank ("oid" by TOKEN_CONFIG_FILE $.issuers[2].claims.subject, for "${entra}")\n`,
    });
    expect(await decide(await signedAnyway(entra, audience, claims))).toMatchObject({ decision: 'deny', reasons: [{ code: 'invalid_token', detail: 'token names no subject: its subject claim is missing, not a string, or empty or blank (only whitespace, control or invisible characters)' }] });
  });
});
