import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

const main = resolve(import.meta.dirname, '../dist/main.js');
const policyDir = resolve(import.meta.dirname, '../policies');

interface Started {
  readonly child: ChildProcess;
  readonly port: number;
  readonly lines: readonly Record<string, unknown>[];
}

let running: ChildProcess | undefined;

afterEach(() => {
  running?.kill('SIGKILL');
  running = undefined;
});

function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env['PATH'], PORT: '0', HOST: '127.0.0.1', POLICY_DIR: policyDir, LOG_LEVEL: 'info', ...extra };
}

/** Starts the built service and resolves once it logs that it listens. */
function start(extra: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, [main], { env: env(extra), stdio: ['ignore', 'ignore', 'pipe'] });
  running = child;
  const lines: Record<string, unknown>[] = [];
  return new Promise((resolvePromise, reject) => {
    let buffer = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const complete = buffer.split('\n');
      buffer = complete.pop() ?? '';
      for (const line of complete) {
        const entry = JSON.parse(line) as Record<string, unknown>;
        lines.push(entry);
        if (entry['msg'] === 'invoice-pdp listening') resolvePromise({ child, port: Number(entry['port']), lines });
      }
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code}: ${buffer}`)));
  });
}

/** Runs the built service expecting it to refuse to start; resolves to its exit code and stderr. */
function refuse(extra: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [main], { env: env(extra), stdio: ['ignore', 'ignore', 'pipe'] });
  running = child;
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  // 'close', not 'exit': the refusal is the last of stderr, which 'exit' can come before.
  return new Promise((resolvePromise) => child.once('close', (code) => resolvePromise({ code, stderr })));
}

describe('service start: caller keys', () => {
  it('warns clearly when no caller keys are configured', async () => {
    const { lines } = await start({});
    const warning = lines.find((l) => l['level'] === 40);
    expect(warning?.['msg']).toMatch(/PDP_API_KEYS is not set: decision endpoints accept every caller/);
  });

  it('logs no caller key and no credential of a configured URL at startup', async () => {
    const secrets = ['apikey-secret-0123456789', 'trusted-secret-0123456789', 'admin-secret-0123456789', 'JwksPw123', 'QuerySecret456', 'IntroPw789', 'IntroQuery0'];
    const { lines } = await start({
      PDP_API_KEYS: secrets[0] as string,
      PDP_TRUSTED_KEYS: secrets[1] as string,
      PDP_ADMIN_KEYS: secrets[2] as string,
      // Nothing listens there: the key set fetch fails, and its warning must not quote them either.
      JWKS_URL: `https://127.0.0.1:65000/jwks?token=${secrets[3]}&api_key=${secrets[4]}`,
      JWT_ISSUER: 'https://idp.test',
      JWT_AUDIENCE: 'invoice-api',
      INTROSPECTION_URL: `https://127.0.0.1:65000/introspect?password=${secrets[5]}&key=${secrets[6]}`,
      INTROSPECTION_CLIENT_ID: 'pdp',
      INTROSPECTION_CLIENT_SECRET: 'client-secret-0123456789',
    });
    await new Promise((resolveWait) => setTimeout(resolveWait, 300));
    const text = lines.map((l) => JSON.stringify(l)).join('\n');
    expect(text).toContain('invoice-pdp listening');
    for (const secret of [...secrets, 'client-secret-0123456789']) expect(text, secret).not.toContain(secret);
  });

  it('does not warn with keys, and the listening service asks callers for one', async () => {
    const key = 'listening-key-0123456789';
    const { lines, port } = await start({ PDP_API_KEYS: key });
    expect(lines.filter((l) => l['level'] === 40)).toEqual([]);
    const ask = (headers: Record<string, string>) =>
      fetch(`http://127.0.0.1:${port}/decide`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ token: 'opaque', action: 'read', resource: { type: 'invoice' } }),
      });
    const refused = await ask({});
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="invoice-pdp"');
    expect((await ask({ authorization: `Bearer ${key}` })).status).toBe(200);
  });

  it('refuses to start with a key too short or too long to use, without printing it', async () => {
    // A key over 512 characters could never be sent: requests carry at most 512.
    const long = `long-secret-${'k'.repeat(501)}`;
    const { code, stderr } = await refuse({ PDP_API_KEYS: 'long-enough-key-0123456789,short-secret', PDP_ADMIN_KEYS: 'sha256:abc', PDP_TRUSTED_KEYS: long });
    expect(code).toBe(1);
    expect(stderr).toContain('PDP_API_KEYS: entry 2: a key must be at least 16 characters');
    expect(stderr).toContain('PDP_ADMIN_KEYS: entry 1: sha256: must be followed by 64 hex digits');
    expect(stderr).toContain('PDP_TRUSTED_KEYS: entry 1: a key must be at most 512 characters');
    expect(stderr).not.toContain('short-secret');
    expect(stderr).not.toContain('long-secret');
  });

  it('refuses to start with introspection but no client credentials', async () => {
    const { code, stderr } = await refuse({ INTROSPECTION_URL: 'https://as.example.com/introspect' });
    expect(code).toBe(1);
    expect(stderr).toContain('INTROSPECTION_CLIENT_ID: INTROSPECTION_CLIENT_ID and INTROSPECTION_CLIENT_SECRET are required');
  });

  it('refuses to start with a token configuration file that does not exist', async () => {
    const { code, stderr } = await refuse({ TOKEN_CONFIG_FILE: '/nonexistent/tokens.json' });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^invoice-pdp: TOKEN_CONFIG_FILE \/nonexistent\/tokens.json: ENOENT/);
  });

  it('refuses a subjectType no entity type could equal: those subjects would never meet their entity data', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pdp-subject-type-'));
    try {
      const file = join(dir, 'tokens.json');
      for (const subjectType of ['partner-user ', 'partner\u200buser', 'partner\tuser']) {
        await writeFile(file, JSON.stringify({ issuers: [{ issuer: 'https://partner.test', jwksFile: 'keys.json', audience: 'pdp', claims: { subjectType } }] }));
        const { code, stderr } = await refuse({ TOKEN_CONFIG_FILE: file });
        expect(code, JSON.stringify(subjectType)).toBe(1);
        expect(stderr).toContain('TOKEN_CONFIG_FILE $.issuers[0].claims.subjectType: no whitespace, control or invisible characters');
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses, at once, token files that are no regular file or too large: no read for ever, no wait on a FIFO', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pdp-token-files-'));
    try {
      const fifo = join(dir, 'keys.fifo');
      execFileSync('mkfifo', [fifo]);
      const large = join(dir, 'tokens.json');
      await writeFile(large, `{"issuers": [], "pad": "${'x'.repeat(1024 * 1024)}"}`);
      const jwt = { JWT_ISSUER: 'https://idp.test', JWT_AUDIENCE: 'invoice-api' };
      for (const [env, message] of [
        [{ TOKEN_CONFIG_FILE: '/dev/zero' }, 'invoice-pdp: TOKEN_CONFIG_FILE /dev/zero: not a regular file'],
        [{ TOKEN_CONFIG_FILE: large }, `invoice-pdp: TOKEN_CONFIG_FILE ${large}: larger than 1048576 bytes`],
        [{ ...jwt, JWKS_FILE: fifo }, `invoice-pdp: JWKS_FILE: key set ${fifo}: not a regular file`],
        [{ ...jwt, JWKS_FILE: '/dev/zero' }, 'invoice-pdp: JWKS_FILE: key set /dev/zero: not a regular file'],
      ] as const) {
        const started = performance.now();
        const { code, stderr } = await refuse(env);
        expect(code, message).toBe(1);
        expect(stderr).toContain(message);
        expect(performance.now() - started).toBeLessThan(5_000);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe('start-up checks of the JWT settings', () => {
  it.each([
    ['JWT_ISSUER and JWT_AUDIENCE', { JWT_ISSUER: 'https://idp.test', JWT_AUDIENCE: 'invoice-api' }],
    ['JWT_ISSUER alone', { JWT_ISSUER: 'https://idp.test' }],
    ['JWT_AUDIENCE alone', { JWT_AUDIENCE: 'invoice-api' }],
  ])('refuses %s without a key set: every JWT would be denied as if no issuer were configured', (_, env) => {
    const failure = (() => {
      try {
        return loadConfig(env);
      } catch (error) {
        return error;
      }
    })();
    expect(failure).toBeInstanceOf(ConfigError);
    expect((failure as Error).message).toContain('JWKS_FILE: JWT_ISSUER and JWT_AUDIENCE need JWKS_FILE or JWKS_URL');
  });

  it('takes them with a key set, from a file or a URL', () => {
    const jwt = { JWT_ISSUER: 'https://idp.test', JWT_AUDIENCE: 'invoice-api' };
    expect(loadConfig({ ...jwt, JWKS_FILE: 'jwks.json' })).toMatchObject({ JWT_ISSUER: 'https://idp.test' });
    expect(loadConfig({ ...jwt, JWKS_URL: 'https://idp.test/jwks' })).toMatchObject({ JWT_ISSUER: 'https://idp.test' });
  });
});
