import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { buildTestApp, readJson } from './helpers/app.js';
import { interopDir } from './helpers/authzen.js';

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

  it('uses PUBLIC_URL when set, without a trailing slash', async () => {
    const { app } = await buildTestApp({ policyDir: interopDir, app: { publicUrl: 'https://pdp.example.com/authz/' } });
    const res = await app.request('http://10.0.0.7:8080/.well-known/authzen-configuration');
    expect(await readJson(res)).toEqual(endpoints('https://pdp.example.com/authz'));
  });
});

describe('PUBLIC_URL', () => {
  it('accepts an http(s) URL and leaves it unset when empty', () => {
    expect(loadConfig({ PUBLIC_URL: 'https://pdp.example.com' }).PUBLIC_URL).toBe('https://pdp.example.com');
    expect(loadConfig({ PUBLIC_URL: '' }).PUBLIC_URL).toBeUndefined();
    expect(loadConfig({}).PUBLIC_URL).toBeUndefined();
  });

  it.each(['ftp://pdp.example.com', 'pdp.example.com', 'https://pdp.example.com/?tenant=1', 'https://pdp.example.com/#x'])('rejects %s', (value) => {
    expect(() => loadConfig({ PUBLIC_URL: value })).toThrow(ConfigError);
    expect(() => loadConfig({ PUBLIC_URL: value })).toThrow(/PUBLIC_URL/);
  });
});
