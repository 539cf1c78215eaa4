import { Hono } from 'hono';

/**
 * The ceiling: one route that parses the JSON body and answers a fixed-shape verdict, no policy
 * work. `workUs` adds that many µs of CPU work to each request (`--ceiling`: what a route doing
 * that much work of its own can reach over sockets).
 */
export function bareApp(workUs = 0): Hono {
  return new Hono().post('/decide', async (c) => {
    const body: unknown = await c.req.json();
    const asks = typeof body === 'object' && body !== null && 'action' in body;
    if (workUs > 0) {
      const until = performance.now() + workUs / 1000;
      while (performance.now() < until);
    }
    return c.json({ decision: asks ? 'permit' : 'deny' });
  });
}
