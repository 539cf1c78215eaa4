/**
 * Fallback load generator for machines without wrk: keeps `connections` keep-alive connections
 * busy for `duration` seconds and prints the same BENCH_JSON line as bench/http/wrk.lua.
 * It runs in its own process, but being Node it costs more CPU per request than wrk, so its
 * figures are lower and are labelled as coming from it.
 * Usage: node node-load.js URL BODIES_FILE CONNECTIONS SECONDS
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { failedStatus } from './load.js';

const [url = '', bodiesFile = '', connectionsArg = '32', secondsArg = '5'] = process.argv.slice(2);
const connections = Number(connectionsArg);
const seconds = Number(secondsArg);
const bodies = readFileSync(bodiesFile, 'utf8').split('\n').filter((l) => l.length > 0).map((l) => Buffer.from(l));
const target = new URL(url);
const agent = new Agent({ keepAlive: true, maxSockets: connections });
const authorization = process.env['BENCH_AUTHORIZATION'];

const latencies: number[] = [];
const errors = { connect: 0, read: 0, write: 0, status: 0, timeout: 0 };
let next = 0;
const started = process.hrtime.bigint();
const deadline = started + BigInt(Math.round(seconds * 1e9));

function once(): Promise<void> {
  const body = bodies[next++ % bodies.length] ?? Buffer.alloc(0);
  const sent = process.hrtime.bigint();
  return new Promise((resolve) => {
    const req = request(
      { agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length, ...(authorization ? { authorization } : {}) } },
      (res) => {
        res.on('data', () => undefined);
        res.on('end', () => {
          latencies.push(Number(process.hrtime.bigint() - sent) / 1000);
          if (failedStatus(res.statusCode ?? 0)) errors.status++;
          resolve();
        });
      },
    );
    req.on('error', () => {
      errors.read++;
      resolve();
    });
    req.end(body);
  });
}

async function loop(): Promise<void> {
  while (process.hrtime.bigint() < deadline) await once();
}

await Promise.all(Array.from({ length: connections }, loop));
const durationUs = Number(process.hrtime.bigint() - started) / 1000;
latencies.sort((a, b) => a - b);
const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
const mean = latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length);
process.stdout.write(`BENCH_JSON ${JSON.stringify({ requests: latencies.length, durationUs: Math.round(durationUs), errors, latencyUs: { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1), mean: Math.round(mean * 10) / 10 } })}\n`);
agent.destroy();
