import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { transportChecks } from '../scripts/conformance/transport.js';
import { buildTestApp } from './helpers/app.js';
import { certificationDir } from './helpers/authzen.js';

/** The certification's non-payload checks, as `npm run conformance` runs them, on a listening server. */
describe('AuthZEN transport checks (certification non_payload_checks)', () => {
  let server: ServerType;
  let base: string;
  beforeAll(async () => {
    const { app } = await buildTestApp({ policyDir: certificationDir });
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('covers what the conformance runner promises', () => {
    expect(transportChecks.map((c) => c.id)).toEqual(['c-2-4-3', 'c-2-4-4', 'c-2-4-5', 'c-2-5-1', 'c-2-5-2', 'c-2-6', 'c-4-5', 'c-4-5', 'c-6']);
  });

  it.each(transportChecks.map((c) => [`${c.id} ${c.label}`, c] as const))('%s', async (_label, check) => {
    expect(await check.run(base, { authorization: 'undefined' })).toBeUndefined();
  });
});
