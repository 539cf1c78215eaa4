/**
 * The ceiling: the same HTTP stack (Hono on @hono/node-server) with one route that parses the
 * same JSON body and answers a fixed-shape verdict, without any policy work. `BARE_WORKERS=N`
 * serves it from N processes under node:cluster, the ceiling for `WORKERS=N`; `BARE_WORK_US=N`
 * adds N µs of CPU work to each request.
 * Prints `{"port":N}` on stdout once listening on 127.0.0.1.
 */
import cluster from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { bareApp } from './bare-app.js';

const workers = Number.parseInt(process.env['BARE_WORKERS'] ?? '1', 10);
const workUs = Number(process.env['BARE_WORK_US'] ?? '0');

function serveBare(onListening: (port: number) => void): void {
  const server = serve({ fetch: bareApp(workUs).fetch, port: 0, hostname: '127.0.0.1' }, (info) => onListening(info.port));
  process.once('SIGTERM', () => server.close(() => process.exit(0)));
}

const announce = (port: number) => process.stdout.write(`${JSON.stringify({ port })}\n`);

if (workers <= 1) {
  serveBare(announce);
} else if (cluster.isPrimary) {
  // Workers listening on port 0 under cluster share one port, assigned by the primary.
  let listening = 0;
  cluster.on('listening', (_worker, address: AddressInfo) => {
    listening += 1;
    if (listening === workers) announce(address.port);
  });
  for (let i = 0; i < workers; i++) cluster.fork();
  process.once('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    cluster.once('exit', () => process.exit(0));
  });
} else {
  serveBare(() => undefined);
}
