/**
 * The ceiling: the same HTTP stack (Hono on @hono/node-server) with one route that parses the
 * same JSON body and answers a fixed-shape verdict, without any policy work.
 * Prints `{"port":N}` on stdout once listening on 127.0.0.1.
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const app = new Hono().post('/decide', async (c) => {
  const body: unknown = await c.req.json();
  const asks = typeof body === 'object' && body !== null && 'action' in body;
  return c.json({ decision: asks ? 'permit' : 'deny' });
});

const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
  process.stdout.write(`${JSON.stringify({ port: info.port })}\n`);
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
