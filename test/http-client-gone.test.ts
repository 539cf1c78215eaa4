import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../src/http/server.js';
import { createIntrospector } from '../src/token/introspect.js';
import { startIntrospectionServer, type IntrospectionServer } from './helpers/introspection-server.js';
import { connectTo, readResponse } from './helpers/raw-http.js';
import { auditEntries, buildObservedApp, sample, scrape, type memorySink } from './helpers/telemetry.js';

// A client that goes away while its decision is being made is given no decision: none is recorded.

const invoice = { type: 'invoice', id: 'inv-1', properties: { region: 'EU' } };
const claims = { active: true, sub: 'alice', roles: ['accountant'], scope: 'invoice.read', region: 'EU' };

function decideRequest(token: string): string {
  const body = JSON.stringify({ token, action: 'read', resource: invoice });
  return `POST /decide HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

describe('a client that closes its connection while its decision is being made', () => {
  let introspection: IntrospectionServer;
  let running: RunningServer;
  let app: Awaited<ReturnType<typeof buildObservedApp>>['app'];
  let sink: ReturnType<typeof memorySink>;
  beforeAll(async () => {
    introspection = await startIntrospectionServer();
    const tokens = createIntrospector({ url: introspection.url, clientId: introspection.clientId, clientSecret: introspection.clientSecret, timeoutMs: 5_000 });
    ({ app, sink } = await buildObservedApp({ tokens }));
    running = await startServer(app.fetch, { port: 0, hostname: '127.0.0.1' });
  });
  afterAll(async () => {
    await running.shutdown(1_000);
    await introspection.close();
  });

  it('records nothing of the decision it never received, and the next client is recorded as ever', async () => {
    introspection.answer('opaque-slow', { delayMs: 400, body: claims });
    const gone = await connectTo(running.port);
    gone.write(decideRequest('opaque-slow'));
    // Closed once the server is asking about the token: the decision is in flight.
    await expect.poll(() => introspection.requestsFor('opaque-slow'), { timeout: 5_000 }).toBe(1);
    gone.destroy();
    // Let the introspection answer arrive and the decision finish (a permit).
    await new Promise((resolve) => setTimeout(resolve, 900));

    introspection.answer('opaque-quick', { body: claims });
    const stays = await connectTo(running.port);
    const answer = readResponse(stays);
    stays.write(decideRequest('opaque-quick'));
    const given = JSON.parse((await answer).body) as { decisionId: string };
    stays.destroy();

    const entries = await auditEntries(sink);
    expect(entries.map((entry) => [entry.decisionId, entry.decision])).toEqual([[given.decisionId, 'permit']]);
    expect(sample(await scrape(app), 'pdp_decisions_total', { decision: 'permit', endpoint: 'decide', source: 'evaluated' })).toBe(1);
  });
});
