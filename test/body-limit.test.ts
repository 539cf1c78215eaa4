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

/** Sends a body to the real server, either with a Content-Length or chunked (no declared length). */
function post(body: string, chunked: boolean, method = 'POST', path = '/decide'): Promise<{ status: number; type: string; connection: string; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { 'content-type': 'application/json' };
    // Node sends chunked by default for POST and PUT, not for DELETE: asked for, it does for every method.
    headers[chunked ? 'transfer-encoding' : 'content-length'] = chunked ? 'chunked' : Buffer.byteLength(body);
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), connection: String(res.headers.connection), body: text }));
    });
    req.on('error', reject);
    if (chunked) {
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

    it.each([
      ['POST', '/decisions', 404, 'not_found'],
      ['PUT', '/decide', 405, 'method_not_allowed'],
      ['DELETE', '/access/v1/evaluation', 405, 'method_not_allowed'],
    ])(`answers %s %s over the limit ${how} with %i, as a path or method no route takes comes first`, async (method, path, status, code) => {
      const res = await post(decideBody(maxBodyBytes), chunked, method, path);
      expect(res.status).toBe(status);
      expect(JSON.parse(res.body)).toMatchObject({ status, type: `urn:invoice-pdp:problem:${code}` });
      // As after a 413: the body, left unread, is not read to the end to keep the connection.
      expect(res.connection).toBe('close');
    });
  }
});
