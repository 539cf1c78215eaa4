import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { policySetCandidates } from '../src/decision/candidates.js';
import { SearchService, type SearchDecisions } from '../src/decision/search.js';
import { createApp } from '../src/http/app.js';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { interopDir, todoUsers } from './helpers/authzen.js';
import { tempDir, writeFiles } from './helpers/policy-dir.js';
import { lateJsonPost } from './helpers/late-body.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

const user = (id: string) => ({ type: 'user', id });
const recordIds = (ids: number[]) => ids.map((id) => ({ type: 'record', id: String(id) }));

describe('AuthZEN search', () => {
  let app: App;
  beforeAll(async () => {
    ({ app } = await buildTestApp({ policyDir: interopDir }));
  });

  const search = async (kind: string, body: unknown) => {
    const res = await postJson(app, `/access/v1/search/${kind}`, body);
    expect(res.status).toBe(200);
    return readJson(res);
  };

  it('subject search: the users who may view a record, exactly {type, id} with type first, after the page', async () => {
    // AuthZEN 1.0 (Search API Response) recommends `page` as the first key, so a PEP reading a
    // large answer as it streams in has `count` before the results.
    const body = await search('subject', { subject: { type: 'user' }, action: { name: 'view' }, resource: { type: 'record', id: '101' } });
    expect(JSON.stringify(body)).toBe(
      '{"page":{"next_token":"","count":4},"results":[{"type":"user","id":"alice"},{"type":"user","id":"bob"},{"type":"user","id":"carol"},{"type":"user","id":"dan"}]}',
    );
  });

  it('resource search: the records a user may delete (the ones she owns), ids as strings', async () => {
    const body = await search('resource', { subject: user('alice'), action: { name: 'delete' }, resource: { type: 'record' } });
    expect(body.results).toEqual(recordIds([101, 107, 113, 119]));
  });

  it('action search: the actions the resource type\'s policies name that the subject may do', async () => {
    const owner = await search('action', { subject: user('alice'), resource: { type: 'record', id: '101' } });
    expect(owner.results).toEqual([{ name: 'delete' }, { name: 'edit' }, { name: 'view' }]);
    const colleague = await search('action', { subject: user('bob'), resource: { type: 'record', id: '101' } });
    expect(colleague.results).toEqual([{ name: 'view' }]);
  });

  it('every hit, fed back as an evaluation, is permitted', async () => {
    const body = await search('resource', { subject: user('dan'), action: { name: 'edit' }, resource: { type: 'record' } });
    expect((body.results as unknown[]).length).toBeGreaterThan(0);
    for (const resource of body.results as unknown[]) {
      const res = await postJson(app, '/access/v1/evaluation', { subject: user('dan'), action: { name: 'edit' }, resource });
      expect((await readJson(res)).decision).toBe(true);
    }
  });

  it('ignores the id and properties of the entity searched for', async () => {
    const plain = await search('resource', { subject: user('bob'), action: { name: 'view' }, resource: { type: 'record' } });
    const noisy = await search('resource', {
      subject: user('bob'),
      action: { name: 'view' },
      resource: { type: 'record', id: '999', properties: { department: 'Nowhere' } },
    });
    expect(noisy.results).toEqual(plain.results);
  });

  it('uses the input entities\' request properties over stored ones', async () => {
    const body = await search('resource', {
      subject: { type: 'user', id: 'erin', properties: { role: 'manager' } },
      action: { name: 'view' },
      resource: { type: 'record' },
    });
    expect((body.results as unknown[]).length).toBe(20);
  });

  it('finds subjects known by alias through their id', async () => {
    const body = await search('subject', { subject: { type: 'user' }, action: { name: 'can_create_todo' }, resource: { type: 'todo', id: 'todo-1' } });
    expect(body.results).toEqual(expect.arrayContaining([user(todoUsers.rick.pid), user(todoUsers.morty.pid)]));
    expect(body.results).not.toContainEqual(user(todoUsers.beth.pid));
  });

  it('unknown ids, types and actions find nothing: 200 with empty results', async () => {
    const empty = { results: [], page: { next_token: '', count: 0 } };
    expect(await search('action', { subject: user('nobody'), resource: { type: 'record', id: '101' } })).toEqual(empty);
    expect(await search('action', { subject: user('alice'), resource: { type: 'spaceship', id: '1' } })).toEqual(empty);
    expect(await search('subject', { subject: { type: 'spaceship' }, action: { name: 'view' }, resource: { type: 'record', id: '101' } })).toEqual(empty);
    expect(await search('subject', { subject: { type: 'user' }, action: { name: 'fly' }, resource: { type: 'record', id: '101' } })).toEqual(empty);
    expect(await search('resource', { subject: user('nobody'), action: { name: 'delete' }, resource: { type: 'record' } })).toEqual(empty);
  });

  it('pages with page.limit and an opaque next_token, "" on the last page', async () => {
    const request = { subject: user('alice'), action: { name: 'view' }, resource: { type: 'record' } };
    const all = await search('resource', request);
    const seen: unknown[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const body = await search('resource', { ...request, page: { limit: 6, ...(token !== undefined && { token }) } });
      const results = body.results as unknown[];
      expect(results.length).toBeLessThanOrEqual(6);
      seen.push(...results);
      token = (body.page as { next_token: string }).next_token;
      pages += 1;
    } while (token !== '' && pages < 10);
    expect(pages).toBe(4);
    expect(seen).toEqual(all.results);
  });

  it.each([
    ['subject', { subject: { type: 'user' }, action: { name: 'view' }, resource: { type: 'record', id: '101' } }],
    ['action', { subject: user('alice'), resource: { type: 'record', id: '101' } }],
  ])('pages a %s search too: one hit a page, each once, as the unpaged search finds them', async (kind, request) => {
    const all = (await search(kind, request)).results as unknown[];
    expect(all.length).toBeGreaterThan(2);
    const seen: unknown[] = [];
    let token = '';
    do {
      const body = await search(kind, { ...request, page: token === '' ? { limit: 1 } : { limit: 1, token } });
      seen.push(...(body.results as unknown[]));
      token = (body.page as { next_token: string }).next_token;
    } while (token !== '' && seen.length <= all.length);
    expect(seen).toEqual(all);
  });

  it.each([
    ['subject', { subject: { type: 'user' }, action: { name: 'view' }, resource: { type: 'record', id: '101' } }],
    ['resource', { subject: user('alice'), action: { name: 'view' }, resource: { type: 'record' } }],
    ['action', { subject: user('alice'), resource: { type: 'record', id: '101' } }],
  ])('a %s search page counts its results in page.count, and gives no total', async (kind, request) => {
    let token = '';
    let pages = 0;
    do {
      const body = await search(kind, { ...request, page: token === '' ? { limit: 2 } : { limit: 2, token } });
      const results = body.results as unknown[];
      token = (body.page as { next_token: string }).next_token;
      expect(body.page).toEqual({ next_token: token, count: results.length });
      pages += 1;
    } while (token !== '' && pages < 20);
    expect(pages).toBeGreaterThan(1);
  });

  it('gives no token when a full page is also the last one', async () => {
    const body = await search('resource', { subject: user('alice'), action: { name: 'delete' }, resource: { type: 'record' }, page: { limit: 4 } });
    expect(body).toEqual({ results: recordIds([101, 107, 113, 119]), page: { next_token: '', count: 4 } });
  });

  it('accepts the earlier drafts\' page.next_token as the request token', async () => {
    const request = { subject: user('alice'), action: { name: 'delete' }, resource: { type: 'record' } };
    const first = await search('resource', { ...request, page: { limit: 2 } });
    const next = (first.page as { next_token: string }).next_token;
    const second = await search('resource', { ...request, page: { limit: 2, next_token: next } });
    expect(second.results).toEqual(recordIds([113, 119]));
  });

  it('rejects a token from another search, or one it never issued, with a 400 at the field that held it', async () => {
    const first = await search('resource', { subject: user('alice'), action: { name: 'view' }, resource: { type: 'record' }, page: { limit: 1 } });
    const token = (first.page as { next_token: string }).next_token;
    expect(token).not.toBe('');
    for (const [page, path] of [
      [{ token }, '$.page.token'],
      [{ token: 'garbage!' }, '$.page.token'],
      [{ next_token: 'garbage!' }, '$.page.next_token'],
    ] as const) {
      const subject = 'token' in page && page.token === token ? user('bob') : user('alice');
      const res = await postJson(app, '/access/v1/search/resource', { subject, action: { name: 'view' }, resource: { type: 'record' }, page });
      expect(res.status).toBe(400);
      expect(await readJson(res)).toMatchObject({ errors: [{ path }] });
    }
  });

  it('accepts any non-negative integer page.limit: 0 is the default page size, past 1000 a page of 1000', async () => {
    const request = { subject: user('alice'), action: { name: 'view' }, resource: { type: 'record' } };
    const all = (await search('resource', request)).results as unknown[];
    expect(all.length).toBe(20);
    for (const limit of [0, 1000, 1001, 5000, 1e20, 3.0]) {
      const body = await search('resource', { ...request, page: { limit } });
      expect(body.results, `limit ${limit}`).toEqual(limit === 3 ? all.slice(0, 3) : all);
      expect(typeof (body.page as { next_token: unknown }).next_token).toBe('string');
    }
  });

  it('serves a page.limit above 1000 as pages of 1000, with a next_token while more remain', async () => {
    const dir = await tempDir('pdp-search-');
    try {
      await copyFile(join(interopDir, 'search-record.json'), join(dir.path, 'search-record.json'));
      const records = (from: number, count: number) => ({
        entities: Array.from({ length: count }, (_, i) => ({ type: 'record', id: `r${String(from + i).padStart(4, '0')}`, properties: { owner: 'zoe' } })),
      });
      await writeFiles(dir.path, { 'data/users.json': { entities: [{ type: 'user', id: 'zoe', properties: {} }] }, 'data/a.json': records(0, 600), 'data/b.json': records(600, 600) });
      const { app: big } = await buildTestApp({ policyDir: dir.path });
      const request = { subject: user('zoe'), action: { name: 'delete' }, resource: { type: 'record' } };
      const first = await readJson(await postJson(big, '/access/v1/search/resource', { ...request, page: { limit: 5000 } }));
      expect((first.results as unknown[]).length).toBe(1000);
      const token = (first.page as { next_token: string }).next_token;
      expect(token).not.toBe('');
      const second = await readJson(await postJson(big, '/access/v1/search/resource', { ...request, page: { limit: 5000, token } }));
      expect((second.results as unknown[]).length).toBe(200);
      expect(second.page).toEqual({ next_token: '', count: 200 });
      const ids = [...(first.results as { id: string }[]), ...(second.results as { id: string }[])].map((r) => r.id);
      expect(new Set(ids).size).toBe(1200);
    } finally {
      await dir.remove();
    }
  });

  it('pages through entity data in id order, whatever order its files list it in', async () => {
    const dir = await tempDir('pdp-search-');
    try {
      await copyFile(join(interopDir, 'search-record.json'), join(dir.path, 'search-record.json'));
      const records = (ids: string[]) => ({ entities: ids.map((id) => ({ type: 'record', id, properties: { owner: 'zoe' } })) });
      await writeFiles(dir.path, { 'data/users.json': { entities: [{ type: 'user', id: 'zoe', properties: {} }] }, 'data/a.json': records(['r3', 'r1', 'r4']), 'data/b.json': records(['r0', 'r2']) });
      const { app: unordered } = await buildTestApp({ policyDir: dir.path });
      const request = { subject: user('zoe'), action: { name: 'delete' }, resource: { type: 'record' } };
      const ids: string[] = [];
      let token = '';
      do {
        const body = await readJson(await postJson(unordered, '/access/v1/search/resource', { ...request, page: token === '' ? { limit: 2 } : { limit: 2, token } }));
        ids.push(...(body.results as { id: string }[]).map((r) => r.id));
        token = (body.page as { next_token: string }).next_token;
      } while (token !== '' && ids.length < 10);
      expect(ids).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
    } finally {
      await dir.remove();
    }
  });

  it('400s with paths: missing keys, input entities without ids, bad page limits', async () => {
    const cases: [string, unknown, string][] = [
      ['subject', { subject: { type: 'user' }, resource: { type: 'record', id: '101' } }, '$.action'],
      ['subject', { subject: { type: 'user' }, action: { name: 'view' }, resource: { type: 'record' } }, '$.resource.id'],
      ['subject', { subject: {}, action: { name: 'view' }, resource: { type: 'record', id: '1' } }, '$.subject.type'],
      ['resource', { action: { name: 'view' }, resource: { type: 'record' } }, '$.subject'],
      ['resource', { subject: { type: 'user' }, action: { name: 'view' }, resource: { type: 'record' } }, '$.subject.id'],
      ['action', { subject: user('alice') }, '$.resource'],
      ['action', { subject: { type: 'user' }, resource: { type: 'record', id: '101' } }, '$.subject.id'],
      ...[-1, 1.5, '10', null, true, {}].map((limit): [string, unknown, string] => ['resource', { subject: user('alice'), action: { name: 'view' }, resource: { type: 'record' }, page: { limit } }, '$.page.limit']),
    ];
    for (const [kind, body, path] of cases) {
      const res = await postJson(app, `/access/v1/search/${kind}`, body);
      expect(res.status, `${kind} ${path}`).toBe(400);
      expect((await readJson(res)).errors).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
    }
  });

  it('ends a page early when its candidate budget runs out, with a token to go on', async () => {
    const { decisions, policies } = await buildTestApp({ policyDir: interopDir });
    const search = new SearchService({ decisions, candidates: policySetCandidates(policies), maxCandidatesPerPage: 3 });
    const budgeted = createApp({ decisions, policies, search });
    const request = { subject: user('alice'), action: { name: 'delete' }, resource: { type: 'record' } };
    const seen: unknown[] = [];
    const counts: number[] = [];
    let token = '';
    let pages = 0;
    do {
      const body = await readJson(await postJson(budgeted, '/access/v1/search/resource', { ...request, page: { token } }));
      const results = body.results as unknown[];
      seen.push(...results);
      token = (body.page as { next_token: string }).next_token;
      // A page the budget ends before any hit counts 0, and still gives a token to go on.
      expect(body.page).toEqual({ next_token: token, count: results.length });
      counts.push(results.length);
      pages += 1;
    } while (token !== '' && pages < 20);
    expect(pages).toBe(7);
    expect(counts).toContain(0);
    expect(seen).toEqual(recordIds([101, 107, 113, 119]));
  });

  it('stops a page once its request is given up: no candidate is decided after that', async () => {
    const { decisions, policies } = await buildTestApp({ policyDir: interopDir });
    let decided = 0;
    // The request runs out of time (or its client goes) while its first candidate is decided.
    const givenUp: SearchDecisions = {
      pinned: () => {
        const pinned = decisions.pinned();
        return {
          ...pinned,
          decideUnrecorded: (request, turn) => {
            decided += 1;
            if (request.meta !== undefined) request.meta.abandoned = true;
            return pinned.decideUnrecorded(request, turn);
          },
        };
      },
    };
    const search = new SearchService({ decisions: givenUp, candidates: policySetCandidates(policies) });
    const app = createApp({ decisions, policies, search });
    const res = await postJson(app, '/access/v1/search/resource', { subject: user('alice'), action: { name: 'view' }, resource: { type: 'record' } });
    expect(res.status).toBe(200);
    expect(decided).toBe(1);
  });

  it('counts the time the body took to arrive against a page\'s time budget, so a slow upload still gets a page', async () => {
    const { decisions, policies } = await buildTestApp({ policyDir: interopDir });
    // Every decision waits 40 ms, as one through a slow cache would.
    const slow: SearchDecisions = {
      pinned: () => {
        const pinned = decisions.pinned();
        return {
          ...pinned,
          decideUnrecorded: async (request, turn) => {
            await new Promise((done) => setTimeout(done, 40));
            return pinned.decideUnrecorded(request, turn);
          },
        };
      },
    };
    const search = new SearchService({ decisions: slow, candidates: policySetCandidates(policies), pageBudgetMs: 300 });
    const budgeted = createApp({ decisions, policies, search, requestTimeoutMs: 600 });
    // A few bytes at once, the rest 400 ms later: the page starts 400 ms into the request's 600.
    const res = await budgeted.request('/access/v1/search/resource', lateJsonPost({ subject: user('alice'), action: { name: 'delete' }, resource: { type: 'record' } }, 20, 400));
    expect(res.status).toBe(200);
    const page = await readJson(res);
    expect((page.page as { next_token: string }).next_token).not.toBe('');
  });
});

describe('AuthZEN action search over many actions', () => {
  it('reads the action names in order as loaded, without sorting them again for each search', async () => {
    // 20 rules of 1,000 actions each, named out of order: each search sorted all 20,000 names
    // before deciding its page, ~0.5 s of the event loop for the million the rule index holds.
    const name = (i: number) => `a${String((i * 7919) % 20_000).padStart(5, '0')}`;
    const rules = Array.from({ length: 20 }, (_, r) => ({ id: `r${r}`, effect: 'permit', actions: Array.from({ length: 1000 }, (_, i) => name(r * 1000 + i)) }));
    const dir = await tempDir('pdp-action-search-');
    await writeFiles(dir.path, { 'docs.json': { id: 'docs', resource: 'doc', rules } });
    const { app } = await buildTestApp({ policyDir: dir.path });
    const sort = vi.spyOn(Array.prototype, 'sort');
    try {
      let token = '';
      const found: unknown[] = [];
      for (let page = 0; page < 3; page += 1) {
        const res = await postJson(app, '/access/v1/search/action', { subject: user('alice'), resource: { type: 'doc', id: 'd1' }, page: { limit: 1000, token } });
        const body = await readJson(res);
        found.push(...(body.results as unknown[]));
        token = (body.page as { next_token: string }).next_token;
      }
      expect(found).toEqual(Array.from({ length: 3000 }, (_, i) => ({ name: `a${String(i).padStart(5, '0')}` })));
      const actionSorts = sort.mock.contexts.filter((sorted) => (sorted as unknown[]).length >= 1000);
      expect(actionSorts).toHaveLength(0);
    } finally {
      sort.mockRestore();
      await dir.remove();
    }
  });
});
