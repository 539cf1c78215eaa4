import { request as httpRequest } from 'node:http';
import { resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { configSummary } from '../src/config-summary.js';
import { searchFingerprint } from '../src/http/authzen/page-token.js';
import { createLogger } from '../src/logger.js';
import { createService, type Service } from '../src/service.js';
import { postJson, readJson } from './helpers/app.js';
import { tempDir, writeFiles } from './helpers/policy-dir.js';
import { spawnNode, type Spawned } from './helpers/spawned.js';

/** 2,100 records, r0000–r2099; alice owns r0005 and r2050, past one page's 2,000 candidates. */
const policy = {
  id: 'records',
  resource: 'record',
  rules: [{ id: 'owner', effect: 'permit', actions: ['view'], condition: 'resource.properties.owner == subject.id' }],
};
const recordId = (i: number) => `r${String(i).padStart(4, '0')}`;
const records = {
  entities: Array.from({ length: 2100 }, (_, i) => ({ type: 'record', id: recordId(i), properties: { owner: i === 5 || i === 2050 ? 'alice' : 'bob' } })),
};

const search = { subject: { type: 'user', id: 'alice' }, action: { name: 'view' }, resource: { type: 'record' } };
const path = '/access/v1/search/resource';
const secret = 'a-page-token-secret-of-32-chars-or-more';

let dir: Awaited<ReturnType<typeof tempDir>>;
const services: Service[] = [];

/** The service as `node dist/main.js` builds it, over the records, with `env` on top. */
async function service(env: Record<string, string> = {}): Promise<Service> {
  const built = await createService(loadConfig({ POLICY_DIR: dir.path, POLICY_WATCH: 'false', AUDIT_DECISIONS: 'none', ...env }), createLogger('silent'));
  services.push(built);
  return built;
}

interface Page {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

async function page(app: Service['app'], pageFields: Record<string, unknown> | undefined): Promise<Page> {
  const res = await postJson(app, path, { ...search, ...(pageFields !== undefined && { page: pageFields }) });
  return { status: res.status, body: await readJson(res) };
}

const nextToken = (answer: Page) => (answer.body['page'] as { next_token: string }).next_token;

beforeAll(async () => {
  dir = await tempDir('pdp-page-token-');
  await writeFiles(dir.path, { 'records.json': policy, 'data/records.json': records });
});

afterAll(async () => {
  for (const built of services) await built.close();
  await dir.remove();
});

describe('search page tokens', () => {
  let app: Service['app'];
  beforeAll(async () => {
    ({ app } = await service());
  });

  it('name no candidate, not even the denied one a page ended on, and still resume where it ended', async () => {
    const first = await page(app, { limit: 1 });
    expect(first.status).toBe(200);
    expect(first.body['results']).toEqual([{ type: 'record', id: 'r0005' }]);
    const token = nextToken(first);
    expect(token).not.toBe('');
    // The token as sent names neither candidate. Its base64url text holds `r` and digits at
    // random, so "any id" (`r` and four digits) is looked for in its decoded bytes only: in the
    // text it once matched `r2091` by chance.
    expect(token).not.toMatch(/r1999|r0005/);
    for (const readable of [Buffer.from(token, 'base64url').toString('latin1'), Buffer.from(token, 'base64url').toString('utf8')]) {
      expect(readable).not.toMatch(/r\d{4}/);
    }
    const second = await page(app, { limit: 1, token });
    expect(second).toEqual({ status: 200, body: { results: [{ type: 'record', id: 'r2050' }], page: { next_token: '', count: 1 } } });
  });

  it('resume the search when a later page states what the first left out: an empty context or properties', async () => {
    const token = nextToken(await page(app, { limit: 1 }));
    const stated = { subject: { ...search.subject, properties: {} }, action: { ...search.action, properties: {} }, resource: search.resource, context: {} };
    const second = await postJson(app, path, { ...stated, page: { limit: 1, token } });
    expect({ status: second.status, body: await readJson(second) }).toEqual({ status: 200, body: { results: [{ type: 'record', id: 'r2050' }], page: { next_token: '', count: 1 } } });
    const other = await postJson(app, path, { ...stated, context: { region: 'EU' }, page: { limit: 1, token } });
    expect(other.status).toBe(400);
    expect(await readJson(other)).toMatchObject({ errors: [{ path: '$.page.token', message: 'this token belongs to a different search; repeat the request that returned it' }] });
  });

  it('are sealed afresh each time: the same page asked twice carries two tokens, and either resumes it', async () => {
    const [one, two] = [nextToken(await page(app, { limit: 1 })), nextToken(await page(app, { limit: 1 }))];
    expect(one).not.toBe(two);
    for (const token of [one, two]) {
      expect((await page(app, { limit: 1, token })).body['results']).toEqual([{ type: 'record', id: 'r2050' }]);
    }
  });

  it('a token made by hand or altered in any byte is a 400 at the field that held it', async () => {
    const token = nextToken(await page(app, { limit: 1 }));
    const fingerprint = searchFingerprint({ kind: 'resource', subject: { claims: {}, type: 'user', id: 'alice' }, action: { name: 'view', properties: {} }, resourceType: 'record', context: {} });
    const forged = [
      Buffer.from(JSON.stringify({ a: 'r0000', q: fingerprint }), 'utf8').toString('base64url'),
      Buffer.from(JSON.stringify({ a: 'r0000', q: fingerprint, l: 1 }), 'utf8').toString('base64url'),
    ];
    const bytes = Buffer.from(token, 'base64url');
    const altered = [0, 12, bytes.length >> 1, bytes.length - 1].map((at) => {
      const copy = Buffer.from(bytes);
      copy[at] = (copy[at] ?? 0) ^ 0x01;
      return copy.toString('base64url');
    });
    // Cut short, as base64url still: too short to hold the IV and the tag.
    const short = [token.slice(0, 4), token.slice(0, 16)];
    for (const bad of [...forged, ...altered, ...short, `${token}A`, token.slice(0, -1), `${token.slice(0, 10)}*${token.slice(10)}`]) {
      for (const field of ['token', 'next_token']) {
        const answer = await page(app, { limit: 1, [field]: bad });
        expect(answer.status, `${field} ${bad}`).toBe(400);
        expect(answer.body).toMatchObject({ errors: [{ path: `$.page.${field}`, message: 'not a page token this service issued' }] });
      }
    }
  });

  it('takes page.token and page.next_token together only when they agree', async () => {
    const first = await page(app, { limit: 1 });
    const token = nextToken(first);
    // Was: the empty token read, the search started again from its first result.
    for (const fields of [{ token: '', next_token: token }, { token, next_token: '' }]) {
      const answer = await page(app, { limit: 1, ...fields });
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ errors: [{ path: '$.page.next_token', message: 'differs from page.token, the name that is read: send one of them' }] });
    }
    const same = await page(app, { limit: 1, token, next_token: token });
    expect(same.status).toBe(200);
    expect(same.body['results']).not.toEqual(first.body['results']);
  });

  it('is bound to the page.limit it was issued with: another limit is a 400 at $.page.limit, none keeps it', async () => {
    const bob = { ...search, subject: { type: 'user', id: 'bob' } };
    const bobPage = async (pageFields: Record<string, unknown>) => {
      const res = await postJson(app, path, { ...bob, page: pageFields });
      return { status: res.status, body: await readJson(res) };
    };
    const first = await bobPage({ limit: 1 });
    expect(first.body['results']).toEqual([{ type: 'record', id: 'r0000' }]);
    const token = nextToken(first);
    for (const pageFields of [{ limit: 2, token }, { limit: 0, token }, { limit: 100, next_token: token }]) {
      const answer = await bobPage(pageFields);
      expect(answer.status, JSON.stringify(pageFields)).toBe(400);
      expect(answer.body).toMatchObject({ errors: [{ path: '$.page.limit' }] });
      expect((answer.body['errors'] as { message: string }[])[0]?.message).toMatch(/page\.limit of the request that returned the token \(1\)/);
    }
    // Left out, the limit is the token's, and so is the next token's.
    const second = await bobPage({ token });
    expect(second).toMatchObject({ status: 200, body: { results: [{ type: 'record', id: 'r0001' }] } });
    expect((await bobPage({ limit: 2, token: nextToken(second) })).status).toBe(400);
    expect((await bobPage({ limit: 1, token: nextToken(second) })).body['results']).toEqual([{ type: 'record', id: 'r0002' }]);

    // No limit is a limit of its own: the default page size, asked for by name, is another.
    const unlimited = nextToken(await bobPage({}));
    expect(unlimited).not.toBe('');
    expect((await bobPage({ limit: 100, token: unlimited })).body).toMatchObject({ errors: [{ path: '$.page.limit', message: expect.stringContaining('(none)') as unknown }] });
    expect((await bobPage({ token: unlimited })).status).toBe(200);
  });

  it('open in another service with the same PAGE_TOKEN_SECRET, and in no other', async () => {
    const [one, two] = [await service({ PAGE_TOKEN_SECRET: secret }), await service({ PAGE_TOKEN_SECRET: secret })];
    const token = nextToken(await page(one.app, { limit: 1 }));
    expect(await page(two.app, { limit: 1, token })).toMatchObject({ status: 200, body: { results: [{ type: 'record', id: 'r2050' }] } });
    const other = await service({ PAGE_TOKEN_SECRET: `${secret}-another` });
    expect((await page(other.app, { limit: 1, token })).status).toBe(400);
    // Without a secret each service makes its own key at start: a restart ends every search.
    expect((await page(app, { limit: 1, token })).status).toBe(400);
    expect((await page(one.app, { limit: 1, token: nextToken(await page(app, { limit: 1 })) })).status).toBe(400);
  });
});

describe('page tokens resuming after the longest ids', () => {
  // Entity ids of 1,024 characters, as entity data takes them, whose JSON is longest: three
  // UTF-8 bytes a character, four a pair, six an escaped lone surrogate.
  const longIds = ['漢'.repeat(1024), '\ud800'.repeat(1024), '😀'.repeat(1024)];
  let longDir: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    longDir = await tempDir('pdp-page-token-long-');
    await writeFiles(longDir.path, {
      'records.json': { id: 'records', resource: 'record', rules: [{ id: 'all', effect: 'permit', actions: ['view'] }] },
      'data/records.json': { entities: longIds.map((id) => ({ type: 'record', id })) },
    });
  });
  afterAll(async () => {
    await longDir.remove();
  });

  it('are taken back: a search pages through them one by one', async () => {
    const { app } = await service({ POLICY_DIR: longDir.path });
    const found: unknown[] = [];
    let pageFields: Record<string, unknown> = { limit: 1 };
    for (let round = 0; round < longIds.length; round += 1) {
      const res = await postJson(app, path, { ...search, page: pageFields });
      const body = await readJson(res);
      expect(res.status, JSON.stringify(body['errors'])).toBe(200);
      found.push(...(body['results'] as unknown[]));
      pageFields = { token: (body['page'] as { next_token: string }).next_token };
    }
    expect(pageFields).toEqual({ token: '' });
    expect(found).toEqual(longIds.map((id) => ({ type: 'record', id })));
  });
});

describe('PAGE_TOKEN_SECRET', () => {
  it('is refused shorter than 32 characters, naming the variable', () => {
    expect(() => loadConfig({ PAGE_TOKEN_SECRET: 'too-short' })).toThrow(ConfigError);
    expect(() => loadConfig({ PAGE_TOKEN_SECRET: 'too-short' })).toThrow(/PAGE_TOKEN_SECRET: use at least 32 characters/);
  });

  it('is never shown in the configuration summary', () => {
    const summary = configSummary(loadConfig({ PAGE_TOKEN_SECRET: secret }));
    expect(summary['PAGE_TOKEN_SECRET']).toBe('[hidden]');
    expect(JSON.stringify(summary)).not.toContain(secret);
  });
});

describe('page tokens under WORKERS=2 without PAGE_TOKEN_SECRET', () => {
  let running: Spawned | undefined;
  afterEach(() => {
    if (running?.child.exitCode === null) running.child.kill('SIGKILL');
    running = undefined;
  });

  /** POSTs on a connection of its own, which node:cluster hands to the workers in turn. */
  const post = (port: number, body: unknown) =>
    new Promise<Page>((done, fail) => {
      const req = httpRequest({ host: '127.0.0.1', port, path, method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () => done({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
      });
      req.on('error', fail);
      req.end(JSON.stringify(body));
    });

  it('one worker opens the tokens another made', async () => {
    running = spawnNode(resolve(import.meta.dirname, '../dist/main.js'), {
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      POLICY_DIR: dir.path,
      AUDIT_DECISIONS: 'none',
      WORKERS: '2',
      PAGE_TOKEN_SECRET: undefined,
    });
    const workers = await running.waitFor((line) => line['msg'] === 'worker listening', 2);
    const port = Number(workers[0]?.['port']);
    for (let round = 0; round < 3; round += 1) {
      const first = await post(port, { ...search, page: { limit: 1 } });
      expect(first.status).toBe(200);
      const second = await post(port, { ...search, page: { limit: 1, token: nextToken(first) } });
      expect(second, `round ${round}`).toEqual({ status: 200, body: { results: [{ type: 'record', id: 'r2050' }], page: { next_token: '', count: 1 } } });
    }
    running.child.kill('SIGTERM');
    expect(await running.exited).toBe(0);
  });
});
