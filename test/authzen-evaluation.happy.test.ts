import { beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, postJson, readJson } from './helpers/app.js';
import { certificationDir, interopDir, todoUsers } from './helpers/authzen.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

const todo = (ownerID: string) => ({ type: 'todo', id: 't-1', properties: { ownerID } });

describe('POST /access/v1/evaluation', () => {
  let app: App;
  beforeAll(async () => {
    ({ app } = await buildTestApp({ policyDir: interopDir }));
  });

  it('permits with a boolean decision and a context naming the decision and the rule', async () => {
    const res = await postJson(app, '/access/v1/evaluation', {
      subject: { type: 'user', id: todoUsers.morty.pid },
      action: { name: 'can_update_todo' },
      resource: todo(todoUsers.morty.email),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = await readJson(res);
    expect(body.decision).toBe(true);
    expect(body.context).toMatchObject({
      decision_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      policy_version: expect.stringMatching(/^[0-9a-f]{16}$/),
      reasons: [{ policy: 'interop-todo', rule: 'change-own-todo', effect: 'permit' }],
    });
  });

  it('denies with 200 and decision false: an editor updating a todo someone else owns', async () => {
    const res = await postJson(app, '/access/v1/evaluation', {
      subject: { type: 'user', id: todoUsers.morty.pid },
      action: { name: 'can_update_todo' },
      resource: todo(todoUsers.rick.email),
    });
    expect(res.status).toBe(200);
    const body = await readJson(res);
    expect(body.decision).toBe(false);
    expect(body.context).toMatchObject({ reasons: [expect.objectContaining({ code: 'no_applicable_rule' })] });
  });

  it('finds a user by an alias (the email) as well as by id (the PID)', async () => {
    for (const id of [todoUsers.beth.pid, todoUsers.beth.email]) {
      const res = await postJson(app, '/access/v1/evaluation', {
        subject: { type: 'user', id },
        action: { name: 'can_read_todos' },
        resource: { type: 'todo', id: 'todo-1' },
      });
      expect((await readJson(res)).decision).toBe(true);
    }
  });

  it('denies an unknown subject: no stored roles, nothing permits', async () => {
    const res = await postJson(app, '/access/v1/evaluation', {
      subject: { type: 'user', id: 'nobody@example.com' },
      action: { name: 'can_read_todos' },
      resource: { type: 'todo', id: 'todo-1' },
    });
    expect(res.status).toBe(200);
    expect((await readJson(res)).decision).toBe(false);
  });

  it('lets request properties override stored ones (subject.properties act as claims)', async () => {
    const res = await postJson(app, '/access/v1/evaluation', {
      subject: { type: 'user', id: todoUsers.beth.pid, properties: { roles: ['editor'] } },
      action: { name: 'can_create_todo' },
      resource: { type: 'todo', id: 'todo-1' },
    });
    expect((await readJson(res)).decision).toBe(true);
  });

  it('tells the gateway policy from the todo policy by subject and resource types', async () => {
    const ask = async (type: string, name: string, resource: { type: string; id: string }) =>
      (await readJson(await postJson(app, '/access/v1/evaluation', { subject: { type, id: todoUsers.beth.pid }, action: { name }, resource }))).decision;
    expect(await ask('identity', 'GET', { type: 'route', id: '/todos' })).toBe(true);
    expect(await ask('identity', 'POST', { type: 'route', id: '/todos' })).toBe(false);
    expect(await ask('user', 'GET', { type: 'route', id: '/todos' })).toBe(false);
  });

  it('ignores unknown fields at every level', async () => {
    const res = await postJson(app, '/access/v1/evaluation', {
      subject: { type: 'identity', id: todoUsers.rick.pid, identity: 'x', _note: 'ignored' },
      action: { name: 'DELETE', extra: 1 },
      resource: { type: 'route', id: '/todos/{todoId}', properties: { uri: '/todos/1', ip: '10.0.0.1' } },
      context: { headers: { host: 'x' } },
      futureField: { nested: true },
    });
    expect(res.status).toBe(200);
    expect((await readJson(res)).decision).toBe(true);
  });

  it('echoes X-Request-ID, and makes one up when absent', async () => {
    const request = { subject: { type: 'user', id: 'a' }, action: { name: 'can_read_todos' }, resource: { type: 'todo', id: '1' } };
    const echoed = await postJson(app, '/access/v1/evaluation', request, { 'x-request-id': 'bfe9eb29-ab87-4ca3-be83-a1d5d8305716' });
    expect(echoed.headers.get('x-request-id')).toBe('bfe9eb29-ab87-4ca3-be83-a1d5d8305716');
    const made = await postJson(app, '/access/v1/evaluation', request);
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('with options.explain, adds the rule-by-rule trace and says it was not cached', async () => {
    const res = await postJson(app, '/access/v1/evaluation', {
      subject: { type: 'user', id: todoUsers.morty.pid },
      action: { name: 'can_delete_todo' },
      resource: todo(todoUsers.rick.email),
      options: { explain: true },
    });
    const body = await readJson(res);
    expect(body.decision).toBe(false);
    expect(body.context).toMatchObject({
      explain: {
        cached: false,
        rules: expect.arrayContaining([
          expect.objectContaining({ rule: 'change-own-todo', applied: false, roles: true, condition: expect.objectContaining({ value: false }) }),
          expect.objectContaining({ rule: 'delete-any-todo', applied: false, roles: false }),
        ]),
      },
    });
  });
});

describe('POST /access/v1/evaluation, action properties', () => {
  it('passes action.properties to the policy (soft delete permitted, hard delete denied)', async () => {
    const { app } = await buildTestApp({ policyDir: certificationDir });
    const ask = async (soft: boolean) =>
      (await readJson(await postJson(app, '/access/v1/evaluation', {
        subject: { type: 'user', id: 'alice' },
        action: { name: 'delete', properties: { soft } },
        resource: { type: 'record', id: 'record-1' },
      }))).decision;
    expect(await ask(true)).toBe(true);
    expect(await ask(false)).toBe(false);
  });
});
