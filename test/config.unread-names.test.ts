import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { settingNames } from '../src/config.js';
import { unreadSettings } from '../src/unread-settings.js';
import { defaultPolicyDir } from './helpers/app.js';
import { runCli, runServerToExit } from './helpers/process.js';
import { spawnNode, type Spawned } from './helpers/spawned.js';

const main = resolve(import.meta.dirname, '../dist/main.js');

/** What unreadSettings makes of one name in an environment of its own. */
const verdict = (name: string) => unreadSettings([name], settingNames)[0];

describe('unreadSettings', () => {
  it.each([
    ['CACHE_TTL_SECOND', 'CACHE_TTL_SECONDS'],
    ['JWT_AUDIENCES', 'JWT_AUDIENCE'],
    ['AUDIT_REDACTED', 'AUDIT_REDACT'],
    ['LOGLEVEL', 'LOG_LEVEL'],
    ['log_level', 'LOG_LEVEL'],
    ['LOG_LEVLE', 'LOG_LEVEL'],
    ['INTROSPECTION_URLL', 'INTROSPECTION_URL'],
    ['PDP_API_KEY', 'PDP_API_KEYS'],
    ['REDIS_URI', 'REDIS_URL'],
    ['MAX_BODY_BYTE', 'MAX_BODY_BYTES'],
    ['PUBLIC_URI', 'PUBLIC_URL'],
    ['WORKER', 'WORKERS'],
    ['HSOT', 'HOST'],
    ['port', 'PORT'],
    ['PORTT', 'PORT'],
    ['ports', 'PORT'],
    // One edit from PORT and from HOST: the first setting of the list.
    ['POST', 'PORT'],
  ])('takes %s for %s', (name, setting) => {
    expect(verdict(name)).toEqual({ name, didYouMean: setting });
  });

  it.each(['REDIS_HOST', 'REDIS_PORT', 'JWT_SECRET', 'CACHE_TTL', 'POLICY_DIRECTORY', 'METRICS_PORT', 'TOKEN_ISSUER', 'introspection_endpoint'])(
    'warns about %s, a guess under one of the service\'s prefixes, without a setting to suggest',
    (name) => {
      expect(verdict(name)).toEqual({ name });
    },
  );

  it.each([
    'PATH', 'HOME', 'HOSTNAME', 'TERM', 'SHELL', 'PWD', 'LANG', 'TZ', 'USER',
    'NODE_ENV', 'NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS', 'NODE_UNIQUE_ID', 'NO_COLOR', 'FORCE_COLOR',
    'npm_config_cache', 'npm_lifecycle_event', 'npm_package_name', 'INIT_CWD',
    'KUBERNETES_SERVICE_HOST', 'KUBERNETES_PORT_443_TCP_ADDR', 'POD_NAME', 'ECS_CONTAINER_METADATA_URI_V4', 'K_SERVICE', 'FLY_APP_NAME',
    'HTTP_PROXY', 'no_proxy', 'REQUESTS_CA_BUNDLE', 'OTEL_SERVICE_NAME',
    // What systemd sets for a unit with CacheDirectory=, StateDirectory=…, and its own.
    'CACHE_DIRECTORY', 'STATE_DIRECTORY', 'LOGS_DIRECTORY', 'RUNTIME_DIRECTORY', 'INVOCATION_ID', 'JOURNAL_STREAM',
    // What Marathon and Mesos set beside PORT: a task's other ports, and their list.
    'PORT0', 'PORT1', 'PORT12', 'PORTS',
    // Under prefixes other software shares.
    'LOG_FORMAT', 'MAX_CONNECTIONS', 'ALLOW_EMPTY_PASSWORD', 'PUBLIC_PATH', 'PAGE_SIZE', 'REQUEST_METHOD', 'KEEP_ALIVE',
  ])('leaves %s alone', (name) => {
    expect(verdict(name)).toBeUndefined();
  });

  it('never takes a name read outside the settings, even beside a setting it is near or shares a prefix with', () => {
    expect(unreadSettings(['NODE_ENV', 'NODE_UNIQUE_ID', 'NO_COLOR', 'NODE_OPTIONS'], ['NODE_ENVIRONMENT', 'NO_COLORS'])).toEqual([{ name: 'NODE_OPTIONS' }]);
  });

  it('leaves the settings alone', () => {
    expect(unreadSettings(settingNames, settingNames)).toEqual([]);
  });

  it('leaves alone the variables Kubernetes sets for a service named like a prefix, but not a guess beside them', () => {
    const links = ['REDIS_SERVICE_HOST', 'REDIS_SERVICE_PORT', 'REDIS_SERVICE_PORT_REDIS', 'REDIS_PORT', 'REDIS_PORT_6379_TCP', 'REDIS_PORT_6379_TCP_ADDR', 'PDP_SERVICE_HOST', 'PDP_PORT', 'PDP_PORT_8080_TCP_PROTO'];
    // TOKEN_SERVICE_PORT is named like a service's variable, but no TOKEN_SERVICE_HOST says there is one.
    expect(unreadSettings([...links, 'REDIS_HOST', 'REDIS_PORTS', 'TOKEN_SERVICE_PORT'], settingNames)).toEqual([
      { name: 'REDIS_HOST' },
      { name: 'REDIS_PORTS' },
      { name: 'TOKEN_SERVICE_PORT' },
    ]);
  });

  it('lists every suspicious name of an environment, sorted', () => {
    expect(unreadSettings(['PATH', 'REDIS_HOST', 'CACHE_TTL_SECOND', 'PORT', 'HOME'], settingNames)).toEqual([
      { name: 'CACHE_TTL_SECOND', didYouMean: 'CACHE_TTL_SECONDS' },
      { name: 'REDIS_HOST' },
    ]);
  });
});

describe('at start', () => {
  const running: Spawned[] = [];
  afterEach(() => {
    for (const service of running.splice(0)) if (service.child.exitCode === null) service.child.kill('SIGKILL');
  });

  const secret = 'value-that-must-not-be-logged';
  const isWarning = (line: Record<string, unknown>) => line['msg'] === 'unknown setting: not read';
  const isListening = (line: Record<string, unknown>) => line['msg'] === 'invoice-pdp listening';

  it.each([1, 2])('logs each unread name once, with its suggestion and without its value, and serves (WORKERS=%i)', async (workers) => {
    const service = spawnNode(main, {
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      WORKERS: String(workers),
      POLICY_DIR: defaultPolicyDir,
      POLICY_WATCH: 'false',
      CACHE_TTL_SECOND: secret,
      REDIS_HOST: secret,
    });
    running.push(service);
    const [listening] = await service.waitFor(isListening, workers);
    expect(service.lines.filter(isWarning).map(({ level, name, didYouMean }) => ({ level, name, didYouMean }))).toEqual([
      { level: 40, name: 'CACHE_TTL_SECOND', didYouMean: 'CACHE_TTL_SECONDS' },
      { level: 40, name: 'REDIS_HOST', didYouMean: undefined },
    ]);
    expect(JSON.stringify(service.lines)).not.toContain(secret);
    const res = await fetch(`http://127.0.0.1:${String(listening?.['port'])}/healthz`);
    expect(res.status).toBe(200);
  });
});

describe('pdp', () => {
  it('warns on stderr about an unread name and runs as without it', async () => {
    const run = await runCli(['test', defaultPolicyDir], { CACHE_TTL_SECOND: 'value-that-must-not-be-printed' });
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('warning unknown setting CACHE_TTL_SECOND: not read (did you mean CACHE_TTL_SECONDS?)\n');
    expect(run.stderr).not.toContain('value-that-must-not-be-printed');
  });

  it('names the misspelt setting before the problem it causes', async () => {
    const run = await runCli(['check', defaultPolicyDir, '--request', 'unread.json'], {
      INTROSPECTION_URLL: 'https://idp.example/introspect',
      INTROSPECTION_CLIENT_ID: 'pdp',
      INTROSPECTION_CLIENT_SECRET: 'value-that-must-not-be-printed',
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^warning unknown setting INTROSPECTION_URLL: not read \(did you mean INTROSPECTION_URL\?\)\nerror invalid configuration:\n {2}INTROSPECTION_CLIENT_ID: applies to introspection: set INTROSPECTION_URL too\n/);
    expect(run.stderr).not.toContain('value-that-must-not-be-printed');
  });
});

describe('a name holding a line break or a control', () => {
  // An env file or an orchestrator passes such a name on; printed as it was, it made a line of its own and drove the terminal.
  const name = 'JWT_X\u001b[2J\n  PORT: fine';

  it('is written with them as \\u{…}, at start and in pdp', async () => {
    for (const run of [await runServerToExit({ [name]: '1', PORT: 'x' }), await runCli(['check', defaultPolicyDir, '--request', 'unread.json'], { [name]: '1', PORT: 'x' })]) {
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('unknown setting JWT_X\\u{1b}[2J\\u{a}  PORT: fine: not read');
      expect(run.stderr).not.toContain('\u001b');
    }
  });
});
