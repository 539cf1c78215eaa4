import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { startServer, type RunningServer } from '../src/http/server.js';
import { buildTestApp, readJson } from './helpers/app.js';
import { interopDir } from './helpers/authzen.js';
import { configProblems } from './helpers/config.js';
import { loadContract } from './helpers/openapi.js';
import { connectTo } from './helpers/raw-http.js';

const endpoints = (base: string) => ({
  policy_decision_point: base,
  access_evaluation_endpoint: `${base}/access/v1/evaluation`,
  access_evaluations_endpoint: `${base}/access/v1/evaluations`,
  search_subject_endpoint: `${base}/access/v1/search/subject`,
  search_resource_endpoint: `${base}/access/v1/search/resource`,
  search_action_endpoint: `${base}/access/v1/search/action`,
});

describe('GET /.well-known/authzen-configuration', () => {
  it('builds every URL from the base URL the request reached, on a real listening server', async () => {
    const { app } = await buildTestApp({ policyDir: interopDir });
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    try {
      await new Promise((resolve) => server.once('listening', resolve));
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const res = await fetch(`${base}/.well-known/authzen-configuration`, { headers: { 'x-request-id': 'meta-1' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.headers.get('x-request-id')).toBe('meta-1');
      expect(await res.json()).toEqual(endpoints(base));
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('uses PUBLIC_URL when set', async () => {
    const { app } = await buildTestApp({ policyDir: interopDir, app: { publicUrl: 'https://pdp.example.com' } });
    const res = await app.request('http://10.0.0.7:8080/.well-known/authzen-configuration');
    expect(await readJson(res)).toEqual(endpoints('https://pdp.example.com'));
  });

  it('advertises PUBLIC_URL exactly as configured, and refuses to be built with a form it would have to rewrite or a scheme but http(s)', async () => {
    for (const publicUrl of ['https://pdp.example.com./authz', 'https://[::1]:8443/a.b~c', 'https://xn--bcher-kva.example:8443']) {
      const { app } = await buildTestApp({ policyDir: interopDir, app: { publicUrl } });
      const res = await app.request(`http://10.0.0.7:8080/.well-known/authzen-configuration${new URL(publicUrl).pathname.replace(/\/$/, '')}`);
      expect(await readJson(res), publicUrl).toEqual(endpoints(publicUrl));
    }
    for (const publicUrl of ['https://pdp.example.com/', 'https://PDP.example.com', 'https://pdp.example.com:443/authz', 'https://pdp.example.com/authz/']) {
      await expect(buildTestApp({ policyDir: interopDir, app: { publicUrl } }), publicUrl).rejects.toThrow(/PUBLIC_URL: .*write it as https:\/\/pdp\.example\.com/);
    }
    // Canonical, and on loopback, but not a URL of the web.
    for (const publicUrl of ['ftp://localhost', 'ws://127.0.0.1:8080']) {
      await expect(buildTestApp({ policyDir: interopDir, app: { publicUrl } }), publicUrl).rejects.toThrow('PUBLIC_URL: must be an https:// URL');
    }
  });

  it('serves the metadata of a PUBLIC_URL with a path where AuthZEN puts it (well-known name, then the path), and only there', async () => {
    const { app } = await buildTestApp({ policyDir: interopDir, app: { publicUrl: 'https://pdp.example.com/authz' } });
    const res = await app.request('http://10.0.0.7:8080/.well-known/authzen-configuration/authz');
    expect(res.status).toBe(200);
    expect(await readJson(res)).toEqual(endpoints('https://pdp.example.com/authz'));
    for (const path of ['/.well-known/authzen-configuration', '/authz/.well-known/authzen-configuration', '/.well-known/authzen-configuration/authz/']) {
      const elsewhere = await app.request(`http://10.0.0.7:8080${path}`);
      expect(elsewhere.status, path).toBe(404);
      expect(elsewhere.headers.get('content-type'), path).toBe('application/problem+json');
    }
  });
});

/** Sends `head` (request line and headers) on a raw socket and reads the answer until the server closes. */
async function rawGet(port: number, head: string, host?: string): Promise<{ status: number; contentType: string; text: string; body: Record<string, unknown> }> {
  const socket = await connectTo(port, host);
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  const closed = new Promise((resolve) => socket.once('close', resolve));
  socket.write(`${head}\r\nconnection: close\r\n\r\n`);
  await closed;
  const text = Buffer.concat(received).toString('utf8');
  const [headers = '', body = ''] = text.split('\r\n\r\n');
  return {
    status: Number(headers.split(' ')[1]),
    contentType: /^content-type: *(.*)$/im.exec(headers)?.[1] ?? '',
    text: body,
    body: JSON.parse(body) as Record<string, unknown>,
  };
}

describe('GET /.well-known/authzen-configuration without a usable Host (a real server, raw requests)', () => {
  let bare: RunningServer;
  let configured: RunningServer;
  beforeAll(async () => {
    bare = await startServer((await buildTestApp({ policyDir: interopDir })).app.fetch, { port: 0, hostname: '127.0.0.1' });
    const withUrl = await buildTestApp({ policyDir: interopDir, app: { publicUrl: 'https://pdp.example.com' } });
    configured = await startServer(withUrl.app.fetch, { port: 0, hostname: '127.0.0.1' });
  });
  afterAll(async () => {
    await Promise.all([bare.shutdown(1_000), configured.shutdown(1_000)]);
  });

  it.each([
    ['an HTTP/1.0 request without Host', 'GET /.well-known/authzen-configuration HTTP/1.0'],
    ['an HTTP/1.1 request with an empty Host', 'GET /.well-known/authzen-configuration HTTP/1.1\r\nhost: '],
    // Letters, digits, dots and dashes, which the server passes on unchecked, but no URL holds.
    // (Punycode labels such as `xn--a` are refused by the URL of Node 20 and 22, held by Node 24's.)
    ...['256.1.1.1', '1.2.3.256:8080', 'foo.1', 'host.0x1', '4294967296'].map((host) => [`a Host of ${host}`, `GET /.well-known/authzen-configuration HTTP/1.1\r\nhost: ${host}`]),
  ])('answers %s with 400 problem+json at path Host, rather than advertise the listening address', async (_, head) => {
    const answer = await rawGet(bare.port, head);
    expect(answer.status).toBe(400);
    expect(answer.contentType).toBe('application/problem+json');
    expect(answer.body).toMatchObject({
      type: 'urn:invoice-pdp:problem:invalid_request',
      detail: expect.stringContaining('send a Host header, or set PUBLIC_URL'),
      errors: [{ path: 'Host', message: expect.any(String) }],
    });
    const documented = new Response(answer.text, { status: answer.status, headers: { 'content-type': answer.contentType } });
    expect(await (await loadContract()).check('GET', '/.well-known/authzen-configuration', documented)).toEqual([]);
  });

  // Hosts the server itself cannot make a URL of (a port out of range, a user, no host), or that
  // are no host (RFC 3986 §3.2.2) though a URL parser takes them, refused before the route: the
  // same 400 at path Host.
  it.each(['127.0.0.1:99999', 'a@pdp.example', ':8080', 'pdp.example:http', 'pdp"example', '{pdp}.example', 'pdp`example'])('answers a Host of %s, which is no host a URL holds, with 400 problem+json at path Host', async (host) => {
    const answer = await rawGet(bare.port, `GET /.well-known/authzen-configuration HTTP/1.1\r\nhost: ${host}`);
    expect(answer.status).toBe(400);
    expect(answer.contentType).toBe('application/problem+json');
    expect(answer.body).toMatchObject({ type: 'urn:invoice-pdp:problem:invalid_request', errors: [{ path: 'Host', message: expect.any(String) }] });
    const documented = new Response(answer.text, { status: answer.status, headers: { 'content-type': answer.contentType } });
    expect(await (await loadContract()).check('GET', '/.well-known/authzen-configuration', documented)).toEqual([]);
  });

  it.each([
    ['[::0]:8080', 'http://[::]:8080'],
    ['[0:0:0:0:0:0:0:1]:8080', 'http://[::1]:8080'],
    ['[::ffff:127.0.0.1]', 'http://[::ffff:7f00:1]'],
    ['LOCALHOST:8080', 'http://localhost:8080'],
    ['127.0.0.1:80', 'http://127.0.0.1'],
    ['localhost:', 'http://localhost'],
    ['loc%61lhost:08080', 'http://localhost:8080'],
  ])('advertises a Host of %s as a URL writes it, %s', async (host, base) => {
    const answer = await rawGet(bare.port, `GET /.well-known/authzen-configuration HTTP/1.1\r\nhost: ${host}`);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual(endpoints(base));
  });

  it('answers an HTTP/1.0 request with a Host from that Host, and one without from PUBLIC_URL', async () => {
    const withHost = await rawGet(bare.port, `GET /.well-known/authzen-configuration HTTP/1.0\r\nhost: 127.0.0.1:${bare.port}`);
    expect(withHost.body).toEqual(endpoints(`http://127.0.0.1:${bare.port}`));
    const fromConfig = await rawGet(configured.port, 'GET /.well-known/authzen-configuration HTTP/1.0');
    expect(fromConfig.status).toBe(200);
    expect(fromConfig.body).toEqual(endpoints('https://pdp.example.com'));
  });
});

// With a zone (a link-local address needs one, fe80::1%eth0; loopback's index, 1, stands in for it),
// or written out in full, otherwise than a URL writes it.
describe.each(['::1', '::1%1', '0:0:0:0:0:0:0:1'])('HTTP/1.0 requests without Host, on a server listening on the IPv6 address %s', (hostname) => {
  let running: RunningServer;
  beforeAll(async () => {
    const { app } = await buildTestApp({ policyDir: interopDir, app: { publicUrl: 'https://pdp.example.com' } });
    running = await startServer(app.fetch, { port: 0, hostname });
  });
  afterAll(async () => {
    await running.shutdown(1_000);
  });

  it('are answered as on any other address: the metadata from PUBLIC_URL', async () => {
    const metadata = await rawGet(running.port, 'GET /.well-known/authzen-configuration HTTP/1.0', '::1');
    expect(metadata.status).toBe(200);
    expect(metadata.body).toEqual(endpoints('https://pdp.example.com'));
    expect(await rawGet(running.port, 'GET /healthz HTTP/1.0', '::1')).toMatchObject({ status: 200, body: { status: 'ok' } });
  });
});

describe('PUBLIC_URL', () => {
  it('accepts an http(s) URL and leaves it unset when empty', () => {
    expect(loadConfig({ PUBLIC_URL: 'https://pdp.example.com' }).PUBLIC_URL).toBe('https://pdp.example.com');
    expect(loadConfig({ PUBLIC_URL: '' }).PUBLIC_URL).toBeUndefined();
    expect(loadConfig({}).PUBLIC_URL).toBeUndefined();
  });

  it('accepts a path of plain segments, which the metadata is served under', () => {
    expect(loadConfig({ PUBLIC_URL: 'https://pdp.example.com/tenant-1/authz_v1.0~x' }).PUBLIC_URL).toBe('https://pdp.example.com/tenant-1/authz_v1.0~x');
  });

  it.each([
    ['https://PDP.Example.com:443/authz/', 'https://pdp.example.com/authz'],
    ['https://pdp.example.com/', 'https://pdp.example.com'],
    ['https://pdp.example.com/authz/', 'https://pdp.example.com/authz'],
    ['https://pdp.example.com:443', 'https://pdp.example.com'],
    ['HTTPS://pdp.example.com', 'https://pdp.example.com'],
    ['https://pdp.example.com/authz?tenant=1', 'https://pdp.example.com/authz'],
    ['https://pdp.example.com?', 'https://pdp.example.com'],
    ['https://pdp.example.com/authz#top', 'https://pdp.example.com/authz'],
    ['https://pdp.example.com/a/./b', 'https://pdp.example.com/a/b'],
    ['https://bücher.example', 'https://xn--bcher-kva.example'],
    ['https://127.1:8443', 'https://127.0.0.1:8443'],
    ['http://localhost:80/authz', 'http://localhost/authz'],
  ])('refuses %s, which a URL parser would rewrite, naming the canonical form %s', (value, canonical) => {
    expect(() => loadConfig({ PUBLIC_URL: value })).toThrow(ConfigError);
    expect(() => loadConfig({ PUBLIC_URL: value })).toThrow(`PUBLIC_URL: must be the PDP identifier exactly as PEPs compare it`);
    expect(() => loadConfig({ PUBLIC_URL: value })).toThrow(new RegExp(`write it as ${canonical.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:\n|$)`));
  });

  it('refuses a user and password without repeating them', () => {
    let message = '';
    try {
      loadConfig({ PUBLIC_URL: 'https://pdp:s3cret-word@pdp.example.com/authz' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('PUBLIC_URL: must be the PDP identifier exactly as PEPs compare it');
    expect(message).toContain('write it as https://pdp.example.com/authz');
    expect(message).not.toContain('s3cret-word');
  });

  it.each(['http://pdp.example.com', 'http://pdp.example.com:8080/authz', 'http://10.0.0.7:8080', 'http://[::2]', 'http://localhost.example.com', 'http://128.0.0.1'])(
    'refuses %s: https is required unless the host is loopback',
    (value) => {
      expect(() => loadConfig({ PUBLIC_URL: value })).toThrow(/PUBLIC_URL: must use https \(AuthZEN requires it of the PDP identifier\); http is allowed only for a loopback host/);
    },
  );

  it.each(['https://pdp.example.com', 'https://pdp.example.com:8443/authz', 'http://localhost', 'http://localhost:8080/authz', 'http://127.0.0.1:8080', 'http://127.255.0.9/a', 'http://[::1]:8080'])(
    'accepts %s as written',
    (value) => {
      expect(loadConfig({ PUBLIC_URL: value }).PUBLIC_URL).toBe(value);
    },
  );

  it.each(['https://pdp.example.com:0', 'http://localhost:0/authz'])('refuses %s: no PEP reaches the endpoints it advertises on port 0', (value) => {
    expect(configProblems({ PUBLIC_URL: value })).toEqual(['PUBLIC_URL: port 0 is no port a client connects to: give the port PEPs reach the service on']);
  });

  it.each(['https://pdp.example.com/admin', 'https://pdp.example.com/admin/authz'])('refuses %s: the endpoints would be behind the admin keys', (value) => {
    expect(() => loadConfig({ PUBLIC_URL: value })).toThrow(/PUBLIC_URL: its path must not begin with \/admin/);
  });

  it.each([
    ['ftp://pdp.example.com', 'PUBLIC_URL: must be an https:// URL'],
    ['pdp.example.com', 'PUBLIC_URL: not a URL'],
    ['https://', 'PUBLIC_URL: not a URL'],
  ])('refuses %s in one line, not told twice in other words', (value, problem) => {
    expect(configProblems({ PUBLIC_URL: value })).toEqual([problem]);
  });

  it.each(['ftp://pdp.example.com', 'pdp.example.com', 'https://pdp.example.com/?tenant=1', 'https://pdp.example.com/#x', 'https://pdp.example.com/a%20b', 'https://pdp.example.com/a//b', 'https://pdp.example.com/a:b'])('rejects %s', (value) => {
    expect(() => loadConfig({ PUBLIC_URL: value })).toThrow(ConfigError);
    expect(() => loadConfig({ PUBLIC_URL: value })).toThrow(/PUBLIC_URL/);
  });
});
