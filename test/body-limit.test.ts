import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from './helpers/app.js';

const maxBodyBytes = 2048;
let server: ServerType;
let port: number;

beforeAll(async () => {
  const { app } = await buildTestApp({ app: { maxBodyBytes } });
  server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((resolve) => server.once('listening', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const decideBody = (padding: number) =>
  JSON.stringify({
    subject: { id: 'u-acc', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } },
    action: 'read',
    resource: { type: 'invoice', properties: { region: 'EU', note: 'x'.repeat(padding) } },
  });

/** POSTs to the real server, either with a Content-Length or chunked (no declared length). */
function post(body: string, chunked: boolean): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { 'content-type': 'application/json' };
    if (!chunked) headers['content-length'] = Buffer.byteLength(body);
    const req = request({ host: '127.0.0.1', port, path: '/decide', method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body: text }));
    });
    req.on('error', reject);
    if (chunked) {
      // Several writes without a length make Node send Transfer-Encoding: chunked.
      for (let i = 0; i < body.length; i += 500) req.write(body.slice(i, i + 500));
      req.end();
    } else {
      req.end(body);
    }
  });
}

describe('request body size limit on a listening server', () => {
  for (const chunked of [false, true]) {
    const how = chunked ? 'streamed without a length' : 'with a Content-Length';
    it(`answers a body under the limit ${how}`, async () => {
      const res = await post(decideBody(100), chunked);
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body)).toMatchObject({ decision: 'permit' });
    });

    it(`rejects a body over the limit ${how} with 413 problem+json`, async () => {
      const res = await post(decideBody(maxBodyBytes), chunked);
      expect(res.status).toBe(413);
      expect(res.type).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(res.body)).toMatchObject({ status: 413, type: 'urn:invoice-pdp:problem:payload_too_large' });
    });
  }
});
