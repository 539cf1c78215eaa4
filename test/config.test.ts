import { describe, expect, it } from 'vitest';
import { callerKeys } from '../src/caller/keys.js';
import { loadConfig } from '../src/config.js';
import { configProblems } from './helpers/config.js';
import { runCli, runServerToExit } from './helpers/process.js';

/** The problems of a configuration expected to be rejected. */
function problems(env: NodeJS.ProcessEnv): string[] {
  const found = configProblems(env);
  if (found.length === 0) throw new Error('expected the configuration to be rejected');
  return found;
}

describe('loadConfig', () => {
  it('applies the defaults to an empty environment', () => {
    expect(loadConfig({})).toMatchObject({
      PORT: 8080,
      POLICY_DIR: './policies',
      MAX_BODY_BYTES: 1024 * 1024,
      JWT_ALGORITHMS: ['RS256', 'PS256', 'ES256', 'EdDSA'],
      JWT_AUDIENCE: [],
    });
  });

  it('splits comma lists and trims them', () => {
    const config = loadConfig({ JWKS_FILE: 'k.json', JWT_ISSUER: 'https://idp', JWT_AUDIENCE: ' a , b,', JWT_ALGORITHMS: 'ES256, EdDSA' });
    expect(config.JWT_AUDIENCE).toEqual(['a', 'b']);
    expect(config.JWT_ALGORITHMS).toEqual(['ES256', 'EdDSA']);
  });

  it('reports every problem at once, field problems and cross-field problems together', () => {
    expect(problems({ PORT: 'eighty', JWKS_FILE: 'keys.json', JWT_ALGORITHMS: 'none,HS256,ES256' })).toEqual([
      expect.stringMatching(/^PORT: /),
      'JWT_ISSUER: required when a key set is configured',
      'JWT_AUDIENCE: required when a key set is configured',
      'JWT_ALGORITHMS: "none" is never accepted',
      'JWT_ALGORITHMS: HS256 (HMAC) is never accepted: tokens are verified with asymmetric keys only',
    ]);
  });

  it('rejects ports out of range and bad numbers', () => {
    expect(problems({ PORT: '70000' })).toEqual([expect.stringMatching(/^PORT: /)]);
    expect(problems({ PORT: '80.5', MAX_BODY_BYTES: '10' })).toEqual([
      expect.stringMatching(/^PORT: /),
      expect.stringMatching(/^MAX_BODY_BYTES: /),
    ]);
  });

  it('refuses an IPv6 HOST written in brackets, as a URL writes it, saying how to write it', () => {
    expect(problems({ HOST: '[::1]' })).toEqual(['HOST: an IPv6 address is written without brackets (::1, not [::1])']);
    expect(loadConfig({ HOST: '::1' })).toMatchObject({ HOST: '::1' });
  });

  it('refuses a HOST holding whitespace or a control character, which no host name or address holds, without quoting it', () => {
    for (const host of ['local host', 'localhost\n  PORT: fine', '127.0.0.1\u001b[2J', '::1\u0085']) {
      expect(problems({ HOST: host }), JSON.stringify(host)).toEqual(['HOST: holds whitespace or a control character, which no host name or address does: give one name or address, the port in PORT']);
    }
  });

  it('never accepts none, nor HMAC, whatever JWT_ALLOW_HMAC says', () => {
    const keyed = { JWKS_FILE: 'k.json', JWT_ISSUER: 'https://idp', JWT_AUDIENCE: 'api' };
    expect(problems({ ...keyed, JWT_ALGORITHMS: 'NONE' })).toEqual(['JWT_ALGORITHMS: "none" is never accepted']);
    expect(problems({ ...keyed, JWT_ALGORITHMS: 'HS256', JWT_ALLOW_HMAC: 'true' })).toEqual([
      expect.stringMatching(/^JWT_ALLOW_HMAC: HMAC is never accepted/),
      expect.stringMatching(/^JWT_ALGORITHMS: HS256 \(HMAC\) is never accepted/),
    ]);
  });

  it('takes a blank variable of any kind as unset, its default: a number not as 0, a name not refused', () => {
    expect(loadConfig({ PORT: '', SHUTDOWN_TIMEOUT_MS: ' ', TOKEN_CACHE_ENTRIES: '' })).toMatchObject({ PORT: 8080, SHUTDOWN_TIMEOUT_MS: 10_000, TOKEN_CACHE_ENTRIES: 10_000 });
    const blank = { LOG_LEVEL: '', POLICY_WATCH: ' ', JWT_REQUIRE_EXP: '', AUDIT_DECISIONS: '', CACHE_PREFIX: '', POLICY_DIR: '', HOST: '' };
    expect(loadConfig(blank)).toMatchObject({ LOG_LEVEL: 'info', POLICY_WATCH: 'true', JWT_REQUIRE_EXP: 'true', AUDIT_DECISIONS: 'all', CACHE_PREFIX: 'invoice-pdp:decision:', POLICY_DIR: './policies', HOST: '0.0.0.0' });
    expect(loadConfig({ PORT: '0', TOKEN_CACHE_ENTRIES: '0' })).toMatchObject({ PORT: 0, TOKEN_CACHE_ENTRIES: 0 });
  });

  it('reads every value without the spaces or line ending around it, as it reads numbers and URLs', () => {
    const padded = { HOST: ' 127.0.0.1 ', POLICY_DIR: './policies\r', LOG_LEVEL: 'warn ', POLICY_WATCH: ' false', JWT_REQUIRE_EXP: 'false\r', AUDIT_DECISIONS: '\tdeny', CACHE_PREFIX: ' pdp: ', PORT: '8081\r' };
    expect(loadConfig(padded)).toMatchObject({ HOST: '127.0.0.1', POLICY_DIR: './policies', LOG_LEVEL: 'warn', POLICY_WATCH: 'false', JWT_REQUIRE_EXP: 'false', AUDIT_DECISIONS: 'deny', CACHE_PREFIX: 'pdp:', PORT: 8081 });
  });

  it('refuses a value wrapped in quotes, which an env file given to docker run --env-file leaves in it, naming the setting and not the value', () => {
    const quoted = 'is wrapped in quotes, which are read as part of the value: remove them (docker run --env-file keeps the quotes of an env file)';
    const keyed = { JWKS_FILE: 'k.json', JWT_ISSUER: 'https://idp' };
    const found = problems({ ...keyed, JWT_AUDIENCE: '"invoice-api"', CLAIM_ROLES: "'realm_access.roles'", PORT: ' "8080" ', PDP_API_KEYS: '"Secret-Key-0123456789"' });
    expect(found).toEqual(['PORT', 'JWT_AUDIENCE', 'CLAIM_ROLES', 'PDP_API_KEYS'].map((name) => `${name}: ${quoted}`));
    expect(found.join('\n')).not.toContain('Secret-Key');
    expect(loadConfig({ ...keyed, JWT_AUDIENCE: '"invoice"-api', CLAIM_SUBJECT: 'x\'', CACHE_PREFIX: '"' })).toMatchObject({ JWT_AUDIENCE: ['"invoice"-api'], CLAIM_SUBJECT: 'x\'', CACHE_PREFIX: '"' });
    expect(loadConfig({ NOT_A_SETTING: '"x"' })).toMatchObject({ PORT: 8080 });
  });

  it('refuses a list entry wrapped in quotes, as it refuses a quoted value, naming the entry alone and not quoting it', () => {
    const quoted = (entry: number) => `entry ${entry}: is wrapped in quotes, which are read as part of the entry: remove them`;
    const keyed = { JWKS_FILE: 'k.json', JWT_ISSUER: 'https://idp' };
    const found = problems({
      ...keyed,
      JWT_AUDIENCE: 'a,"b"',
      JWT_ALGORITHMS: "ES256, 'RS256'",
      INTROSPECTION_URL: 'https://as.example/introspect',
      INTROSPECTION_CLIENT_ID: 'pdp',
      INTROSPECTION_CLIENT_SECRET: 'client-secret',
      INTROSPECTION_AUDIENCE: '"api" ,x',
      CLAIM_ROLES: "roles,'realm_access.roles'",
      CLAIM_SCOPES: 'scope,"scp"',
      CLAIM_ROLE_PREFIXES: 'ROLE_,"APP_"',
      PDP_API_KEYS: 'Secret-Part-One-123,"Secret-Part-Two-456"',
      PDP_TRUSTED_KEYS: "'short',Trusted-Key-0123456789",
      PDP_ADMIN_KEYS: 'admin-key-0123456789abcdef,"x"',
      REDIS_CLUSTER_NODES: 'a:7000,"b:7001"',
      CACHE_SIGNING_SECRET: 's'.repeat(32),
      AUDIT_REDACT: 'subject.properties.email,"subject.properties.phone"',
    });
    expect(found).toEqual([
      `JWT_AUDIENCE: ${quoted(2)}`,
      `JWT_ALGORITHMS: ${quoted(2)}`,
      `INTROSPECTION_AUDIENCE: ${quoted(1)}`,
      `CLAIM_ROLES: ${quoted(2)}`,
      `CLAIM_SCOPES: ${quoted(2)}`,
      `CLAIM_ROLE_PREFIXES: ${quoted(2)}`,
      `PDP_API_KEYS: ${quoted(2)}`,
      `PDP_TRUSTED_KEYS: ${quoted(1)}`,
      `PDP_ADMIN_KEYS: ${quoted(2)}`,
      `AUDIT_REDACT: ${quoted(2)}`,
      `REDIS_CLUSTER_NODES: ${quoted(2)}`,
    ]);
    expect(found.join('\n')).not.toContain('Secret-Part');
    // Told beside the other problems of the list, which a quoted entry does not hide.
    // Each counted from 1, as every list's entries are: the path was told as `AUDIT_REDACT.2`, its index.
    expect(problems({ AUDIT_REDACT: 'subject.x,"subject.y",bogus' })).toEqual([
      `AUDIT_REDACT: ${quoted(2)}`,
      expect.stringMatching(/^AUDIT_REDACT: entry 3: a dotted path under subject/),
    ]);
    // A quote within an entry, or at one end only, is no wrapping.
    expect(loadConfig({ ...keyed, JWT_AUDIENCE: 'a,"invoice"-api,x"' }).JWT_AUDIENCE).toEqual(['a', '"invoice"-api', 'x"']);
  });

  it('refuses a secret of whitespace alone, which would count as unset and leave open what it protects, without quoting it', () => {
    const blank = 'holds whitespace alone, which would count as unset and leave open what it protects: give its value, or leave the variable out to unset it';
    // Unset, Redis entries go unsigned, /metrics is open, and decision endpoints take every caller.
    const found = problems({ REDIS_URL: 'redis://a:6379', CACHE_SIGNING_SECRET: '   ', METRICS_TOKEN: ' \t ', PDP_API_KEYS: ' ', PDP_ADMIN_KEYS: ' ' });
    expect(found).toEqual(['CACHE_SIGNING_SECRET', 'METRICS_TOKEN', 'PDP_API_KEYS'].map((name) => `${name}: ${blank}`));
    // Empty, or the line ending alone an env file written on Windows leaves, each is unset.
    for (const empty of ['', '\r']) {
      const config = loadConfig({ REDIS_URL: 'redis://a:6379', CACHE_SIGNING_SECRET: empty, METRICS_TOKEN: empty, PDP_API_KEYS: empty });
      expect([config.CACHE_SIGNING_SECRET, config.METRICS_TOKEN, config.PDP_API_KEYS]).toEqual([undefined, undefined, []]);
    }
  });

  it('refuses trusted caller keys of whitespace alone, which alone would open the decision endpoints to every caller, subjects and all', () => {
    const blank = 'holds whitespace alone, which would count as unset and leave open what it protects: give its value, or leave the variable out to unset it';
    // The only caller keys of a service whose callers all state subjects (AuthZEN): unset, every caller is accepted as trusted.
    expect(problems({ PDP_TRUSTED_KEYS: ' \n' })).toEqual([`PDP_TRUSTED_KEYS: ${blank}`]);
    expect(problems({ PDP_API_KEYS: 'Api-Key-0123456789abcdef', PDP_TRUSTED_KEYS: '  ' })).toEqual([`PDP_TRUSTED_KEYS: ${blank}`]);
    expect(loadConfig({ PDP_TRUSTED_KEYS: '' }).PDP_TRUSTED_KEYS).toEqual([]);
  });

  it('refuses an algorithm name no key set can verify with, so tokens are not all denied at run time', () => {
    const keyed = { JWKS_FILE: 'k.json', JWT_ISSUER: 'https://idp', JWT_AUDIENCE: 'api' };
    expect(problems({ ...keyed, JWT_ALGORITHMS: 'ES265,RS256' })).toEqual([expect.stringMatching(/^JWT_ALGORITHMS: ES265 is not a JWS algorithm this service verifies/)]);
    expect(loadConfig({ ...keyed, JWT_ALGORITHMS: 'RS512,PS384,ES512,Ed25519' }).JWT_ALGORITHMS).toEqual(['RS512', 'PS384', 'ES512', 'Ed25519']);
  });

  it.each([
    ['a port that is not a number', 'redis://cache:notaport'],
    ['a password that does not decode', 'redis://:p%zz@127.0.0.1:6379'],
    ['no host', 'redis://:6379'],
    ['a database that is not a number', 'redis://127.0.0.1:6379/cache'],
    ['a database number and more', 'redis://127.0.0.1:6379/1/2'],
    ['a db query value that is not a number', 'redis://127.0.0.1:6379?db=one'],
  ])('refuses a REDIS_URL with %s, rather than crash in the client at start', (_, url) => {
    expect(problems({ REDIS_URL: url })).toEqual([expect.stringMatching(/^REDIS_URL: not a URL with a host/)]);
  });

  it.each(['cache.internal:6379', 'http://cache.internal:6379', 'unix:///run/redis.sock'])('refuses a REDIS_URL %s that is not redis:// or rediss:// in one line, not told again as a URL without a host', (url) => {
    expect(problems({ REDIS_URL: url })).toEqual(['REDIS_URL: must be a redis:// or rediss:// URL']);
  });

  it('refuses a REDIS_URL on port 0, as REDIS_CLUSTER_NODES and REDIS_SENTINELS do, rather than start with a Redis never reached', () => {
    for (const url of ['redis://127.0.0.1:0', 'rediss://cache.internal:00/1']) {
      expect(problems({ REDIS_URL: url }), url).toEqual([expect.stringMatching(/^REDIS_URL: not a URL with a host, a port from 1 to 65535/)]);
    }
  });

  it('refuses a REDIS_URL naming its database more than once, of which the client reads another than the one checked', () => {
    // The client takes the path's, else the last db of the query, and selects none (database 0) for one that is not a number.
    for (const url of ['redis://127.0.0.1:6379?db=1&db=one', 'redis://127.0.0.1:6379/1?db=one', 'redis://127.0.0.1:6379/1?db=2', 'redis://127.0.0.1:6379?db=1&db=2']) {
      expect(problems({ REDIS_URL: url }), url).toEqual([expect.stringMatching(/^REDIS_URL: not a URL with a host/)]);
    }
  });

  it('takes a REDIS_URL with a database number, or none', () => {
    for (const url of ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379/', 'redis://127.0.0.1:6379/3', 'redis://127.0.0.1:6379?db=3']) expect(loadConfig({ REDIS_URL: url }).REDIS_URL, url).toBe(url);
  });

  it.each([
    ['a client setting the URL would give over the service\'s own', 'redis://127.0.0.1:6379?enableOfflineQueue=false', 'query parameter "enableOfflineQueue" is not taken: only db and family are; the client\'s other settings are the service\'s own'],
    ['a timeout beside a database', 'redis://127.0.0.1:6379/2?commandTimeout=60000', 'query parameter "commandTimeout" is not taken: only db and family are; the client\'s other settings are the service\'s own'],
    ['an IP version that is none', 'rediss://cache.internal:6379?family=5', 'query parameter family=5: use 0 (either IP version), 4 or 6'],
    // The client takes the last: `family=4&family=6` ran on IPv6 alone.
    ['an IP version given twice', 'redis://cache.internal:6379?family=4&family=6', 'query parameter "family" is given more than once, of which the client takes the last: give it once'],
    ['an IP version given twice alike', 'redis://cache.internal:6379/1?family=4&family=4', 'query parameter "family" is given more than once, of which the client takes the last: give it once'],
  ])('refuses a REDIS_URL with %s, naming the query parameter', (_, url, message) => {
    expect(problems({ REDIS_URL: url })).toEqual([`REDIS_URL: ${message}`]);
  });

  it('refuses a REDIS_URL whose query holds a name with no value without quoting it, as it may be a token', () => {
    const found = problems({ REDIS_URL: 'redis://127.0.0.1:6379/0?s3cret-token' });
    expect(found).toEqual(['REDIS_URL: a query parameter with no value is not taken: only db and family are; the client\'s other settings are the service\'s own']);
    expect(found.join('\n')).not.toContain('s3cret-token');
  });

  it('takes a REDIS_URL asking for an IP version, as IPv6-only private networks need', () => {
    for (const url of ['redis://cache.internal:6379?family=6', 'redis://cache.internal:6379/1?family=0', 'redis://127.0.0.1:6379?db=3&family=4']) expect(loadConfig({ REDIS_URL: url }).REDIS_URL, url).toBe(url);
  });

  it('refuses both a key file and a key URL, and a URL that is not one', () => {
    const keyed = { JWT_ISSUER: 'https://idp', JWT_AUDIENCE: 'api' };
    expect(problems({ ...keyed, JWKS_FILE: 'k.json', JWKS_URL: 'https://idp/jwks' })).toEqual(['JWKS_URL: set JWKS_FILE or JWKS_URL, not both']);
    expect(problems({ ...keyed, JWKS_URL: 'not a url' })).toEqual([expect.stringMatching(/^JWKS_URL: /)]);
  });

  it('refuses a METRICS_TOKEN no scraper could send, or that a caller key could not be', () => {
    for (const token of ['has space inside metrics token', 'metrics-token,with-a-comma', `metrics-token-\u00e9\u00e9\u00e9\u00e9`, 'm'.repeat(513)]) {
      const found = problems({ METRICS_TOKEN: token });
      expect(found, token).toEqual([expect.stringMatching(/^METRICS_TOKEN: use (printable ASCII without spaces or commas|at most 512 characters)/)]);
      expect(found.join('\n')).not.toContain(token);
    }
    expect(loadConfig({ METRICS_TOKEN: ` ${'m'.repeat(512)} ` }).METRICS_TOKEN).toBe('m'.repeat(512));
  });

  it('refuses a list of commas and spaces alone, rather than run with no entry: no algorithm, no caller key, any audience', () => {
    const keyed = { JWKS_FILE: 'k.json', JWT_ISSUER: 'https://idp', JWT_AUDIENCE: 'api' };
    expect(problems({ ...keyed, JWT_ALGORITHMS: ',', INTROSPECTION_AUDIENCE: ',,', CLAIM_ROLES: ',', PDP_API_KEYS: ' , ' })).toEqual(
      ['JWT_ALGORITHMS', 'INTROSPECTION_AUDIENCE', 'CLAIM_ROLES', 'PDP_API_KEYS'].map((name) => `${name}: lists no entry, only commas and spaces (unset it for the default)`),
    );
  });

  it('refuses introspection settings without INTROSPECTION_URL (misspelt, say), which would leave every opaque token denied', () => {
    const alone = { INTROSPECTION_CLIENT_ID: 'pdp', INTROSPECTION_CLIENT_SECRET: 'client-secret', INTROSPECTION_JWT_ISSUER: 'https://as.example', INTROSPECTION_AUDIENCE: 'api' };
    expect(problems({ ...alone, INTROSPECT_URL: 'https://as.example/introspect' })).toEqual(
      Object.keys(alone).map((name) => `${name}: applies to introspection: set INTROSPECTION_URL too`),
    );
    expect(loadConfig({ ...alone, INTROSPECTION_URL: 'https://as.example/introspect', INTROSPECTION_JWKS_FILE: 'as-keys.json' }).INTROSPECTION_AUDIENCE).toEqual(['api']);
  });

  it('holds every key list to what a key must be, admin keys as much as caller keys', () => {
    expect(problems({ PDP_API_KEYS: 'short', PDP_TRUSTED_KEYS: 'short', PDP_ADMIN_KEYS: 'admin-key-0123456789abcdef,short' })).toEqual([
      'PDP_API_KEYS: entry 1: a key must be at least 16 characters',
      'PDP_TRUSTED_KEYS: entry 1: a key must be at least 16 characters',
      'PDP_ADMIN_KEYS: entry 2: a key must be at least 16 characters',
    ]);
  });

  it('refuses signed introspection answers without both the keys and the issuer that signs them', () => {
    const introspection = { INTROSPECTION_URL: 'https://as.example/introspect', INTROSPECTION_CLIENT_ID: 'pdp', INTROSPECTION_CLIENT_SECRET: 'client-secret' };
    expect(problems({ ...introspection, INTROSPECTION_JWKS_FILE: 'as-keys.json' })).toEqual(['INTROSPECTION_JWT_ISSUER: required when introspection keys are configured']);
    expect(problems({ ...introspection, INTROSPECTION_JWT_ISSUER: 'https://as.example' })).toEqual([
      'INTROSPECTION_JWKS_FILE: INTROSPECTION_JWT_ISSUER needs INTROSPECTION_JWKS_FILE or INTROSPECTION_JWKS_URL: without keys, answers are not signed and plain JSON ones are taken',
    ]);
  });

  it('splits key lists at commas, so every entry is a key of its own and none holds a comma', () => {
    const config = loadConfig({ PDP_API_KEYS: 'Secret-Part-One-123,Secret-Part-Two-456', PDP_ADMIN_KEYS: ' admin-key-0123456789abcdef , ' });
    expect(config.PDP_API_KEYS).toEqual(['Secret-Part-One-123', 'Secret-Part-Two-456']);
    expect(config.PDP_ADMIN_KEYS).toEqual(['admin-key-0123456789abcdef']);
  });
});

describe('callerKeys', () => {
  it('takes keys of 16 to 512 characters, and refuses one shorter or longer', () => {
    const key = (length: number) => 'k'.repeat(length);
    expect(callerKeys({ api: [key(16), key(512)], trusted: [], admin: [] }).api.size).toBe(2);
    expect(() => callerKeys({ api: [key(15)], trusted: [], admin: [] })).toThrow('invalid caller key: a key must be at least 16 characters');
    expect(() => callerKeys({ api: [key(513)], trusted: [], admin: [] })).toThrow('invalid caller key: a key must be at most 512 characters');
  });

  it('refuses a sha256: entry, in any case, that is not 64 hex digits, rather than take it for a plain key', () => {
    for (const entry of [`sha256:${'0'.repeat(63)}`, `SHA256:${'0'.repeat(63)}`, `Sha256:${'0'.repeat(64)}x`]) {
      expect(() => callerKeys({ api: [entry], trusted: [], admin: [] })).toThrow('invalid caller key: sha256: must be followed by 64 hex digits');
    }
  });

  it('refuses a key holding a space or a comma, which no key list can hold, without echoing it', () => {
    for (const key of ['Secret-Part-One-123,Secret-Part-Two-456', 'Secret with spaces inside']) {
      expect(() => callerKeys({ api: [key], trusted: [], admin: [] })).toThrow('invalid caller key: a key must be printable ASCII without spaces or commas');
    }
  });
});

describe('the server process at start', () => {
  it('exits non-zero listing every configuration problem', async () => {
    const run = await runServerToExit({ PORT: 'x', JWKS_URL: 'https://idp.example/jwks' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('PORT:');
    expect(run.stderr).toContain('JWT_ISSUER: required');
    expect(run.stderr).toContain('JWT_AUDIENCE: required');
  });

  it('stops at a HOST holding a line break or a control in one line that quotes neither, where listening printed them as they were', async () => {
    const run = await runServerToExit({ HOST: 'localhost\u001b[2J\n  PORT: fine', POLICY_DIR: 'policies' });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('invoice-pdp: invalid configuration:\n  HOST: holds whitespace or a control character, which no host name or address does: give one name or address, the port in PORT\n');
  });

  it.for([
    ['REDIS_CLUSTER_NODES', 'a\u001b[2J\n  PORT: fine', 'REDIS_CLUSTER_NODES: "a\\u{1b}[2J\\u{a}  PORT: fine" is not a host:port'],
    ['TOKEN_CONFIG_FILE', '/nonexistent/\u001b[2J\n  PORT: fine.json', 'TOKEN_CONFIG_FILE /nonexistent/\\u{1b}[2J\\u{a}  PORT: fine.json: ENOENT'],
    ['JWKS_FILE', '/nonexistent/\u001b[2J\n  PORT: fine.json', 'JWKS_FILE: key set /nonexistent/\\u{1b}[2J\\u{a}  PORT: fine.json: '],
  ] as const)('writes a problem quoting %s with its line breaks and controls as \\u{…}, at start and in pdp test', async ([name, value, problem]) => {
    const env = { [name]: value, ...(name === 'JWKS_FILE' && { JWT_ISSUER: 'https://idp.example', JWT_AUDIENCE: 'invoices' }) };
    for (const run of [await runServerToExit(env), await runCli(['test', 'policies'], env)]) {
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(problem);
      expect(run.stderr).not.toContain('\u001b');
      expect(run.stderr.split('\n').filter((line) => line.includes('PORT: fine'))).toHaveLength(1);
    }
  });
});
