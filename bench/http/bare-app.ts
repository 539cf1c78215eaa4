import { Hono } from 'hono';

/** The ceiling: one route that parses the JSON body and answers a fixed-shape verdict, no policy work. */
export function bareApp(): Hono {
  return new Hono().post('/decide', async (c) => {
    const body: unknown = await c.req.json();
    const asks = typeof body === 'object' && body !== null && 'action' in body;
    return c.json({ decision: asks ? 'permit' : 'deny' });
  });
}
