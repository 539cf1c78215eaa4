import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from './helpers/app.js';

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

  it('makes an id up when the caller sends none or an unsafe one', async () => {
    for (const headers of [{}, { 'x-request-id': 'bad id\twith spaces' }] as Record<string, string>[]) {
      const res = await decide(headers);
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
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
