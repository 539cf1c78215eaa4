import { connect, type AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../src/http/server.js';
import { buildTestApp } from './helpers/app.js';
import { answerTo } from './helpers/raw-http.js';
import { auditEntries, buildObservedApp } from './helpers/telemetry.js';

let server: ServerType;
let base: string;

beforeAll(async () => {
  const { app } = await buildTestApp();
  server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const decide = (headers: Record<string, string> = {}, body: unknown = {
  subject: { id: 'u-acc', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } },
  action: 'read',
  resource: { type: 'invoice', properties: { region: 'EU' } },
}) => fetch(`${base}/decide`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

describe('X-Request-ID on a listening server', () => {
  it('echoes a plain caller id on a decision, once, with the JSON content type', async () => {
    const res = await decide({ 'x-request-id': 'gw-123' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('gw-123');
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect((await res.json()) as unknown).toMatchObject({ decision: 'permit' });
  });

  it('makes an id up when the caller sends none, or one over 1024 characters', async () => {
    for (const headers of [{}, { 'x-request-id': 'x'.repeat(1025) }] as Record<string, string>[]) {
      const res = await decide(headers);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('echoes any other id verbatim: spaces, tabs, punctuation, 1024 characters', async () => {
    for (const id of ['id\twith spaces', 'req 42 / a "quoted" (thing); ok? #1 <b>', 'z'.repeat(1024)]) {
      const res = await decide({ 'x-request-id': id });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-request-id')).toBe(id);
    }
  });

  it('replaces a non-ASCII id, which the HTTP stack could not send back as it came', async () => {
    const sent = Buffer.from('trace-ü-✓', 'utf8');
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const socket = connect(Number(new URL(base).port), '127.0.0.1', () => {
        socket.end(Buffer.concat([Buffer.from('GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\nx-request-id: '), sent, Buffer.from('\r\n\r\n')]));
      });
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('end', () => resolve(Buffer.concat(chunks)));
      socket.on('error', reject);
    });
    const text = reply.toString('latin1');
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    expect(text).toMatch(/\r\nx-request-id: [0-9a-f-]{36}\r\n/i);
  });

  it('echoes the id on problem responses and on other routes', async () => {
    const bad = await decide({ 'x-request-id': 'gw-400' }, { action: 'read' });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('x-request-id')).toBe('gw-400');
    expect(((await bad.json()) as { requestId: string }).requestId).toBe('gw-400');
    const health = await fetch(`${base}/healthz`, { headers: { 'x-request-id': 'probe-1' } });
    expect(health.headers.get('x-request-id')).toBe('probe-1');
  });
});

describe('X-Request-ID sent twice', () => {
  let running: RunningServer;
  let sink: { readonly lines: readonly string[] };
  beforeAll(async () => {
    const observed = await buildObservedApp();
    sink = observed.sink;
    running = await startServer(observed.app.fetch, { port: 0, hostname: '127.0.0.1' });
  });
  afterAll(() => running.shutdown(1_000));

  const body = JSON.stringify({
    subject: { id: 'u-acc', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } },
    action: 'read',
    resource: { type: 'invoice', properties: { region: 'EU' } },
  });
  const head = (extra: string) => `POST /decide HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n${extra}\r\n`;

  it('is not one id: a fresh one is made, echoed and audited, as for an id that cannot be echoed', async () => {
    const answer = await answerTo(running.port, `${head('x-request-id: a\r\nx-request-id: b\r\n')}${body}`);
    expect(answer.status).toBe(200);
    const id = answer.headers['x-request-id'];
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const [entry] = (await auditEntries(sink)).slice(-1);
    expect(entry).toMatchObject({ requestId: id });
  });

  it('is not one id on the answers the server writes itself either (417)', async () => {
    const answer = await answerTo(running.port, `${head('expect: 200-ok\r\nx-request-id: a\r\nx-request-id: b\r\n')}${body}`);
    expect(answer.status).toBe(417);
    expect(answer.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect((JSON.parse(answer.body) as { requestId: string }).requestId).toBe(answer.headers['x-request-id']);
  });

  it('still echoes one id holding a comma, sent once', async () => {
    const answer = await answerTo(running.port, `${head('x-request-id: a, b\r\n')}${body}`);
    expect(answer.headers['x-request-id']).toBe('a, b');
  });
});
