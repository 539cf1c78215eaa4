// Verification cost of one access token, with and without the verified-token cache.
// Run: npm run build && node bench/token-cache.mjs
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { ExpiringCache } from '../dist/token/cache.js';
import { cachedVerifier } from '../dist/token/cached-verifier.js';
import { createJwtVerifier, defaultClockTolerance } from '../dist/token/verify.js';

const issuer = 'https://idp.example.com/';
const audience = 'invoice-api';
const claims = { sub: 'alice', roles: ['accountant'], scope: 'invoice.read invoice.write', region: 'EU', department: 'finance' };

async function setUp(alg) {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg };
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg, kid: 'k1', typ: 'JWT' })
    .setIssuer(issuer)
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(privateKey);
  const verifier = createJwtVerifier({ keys: createLocalJWKSet({ keys: [jwk] }), issuer, audience: [audience], algorithms: [alg] });
  const cached = cachedVerifier(verifier, new ExpiringCache({ maxEntries: 10_000, maxTtlMs: 300_000 }), defaultClockTolerance);
  return { token, verifier, cached };
}

/**
 * Microseconds per verification, `concurrency` verifications in flight at a time: wall clock,
 * and CPU time of the whole process (all threads), which neighbours on a busy machine inflate less.
 */
async function run(verifier, token, iterations, concurrency) {
  for (let i = 0; i < Math.min(iterations, 500); i += 1) await verifier.verify(token);
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let done = 0; done < iterations; done += concurrency) {
    if (concurrency === 1) await verifier.verify(token);
    else await Promise.all(Array.from({ length: concurrency }, () => verifier.verify(token)));
  }
  const wall = ((performance.now() - started) * 1000) / iterations;
  const used = process.cpuUsage(cpu);
  return { wall, cpu: (used.user + used.system) / iterations };
}

/** The best of five runs: on a shared machine the slower runs measure the neighbours. */
async function measure(verifier, token, iterations, concurrency) {
  const runs = [];
  for (let i = 0; i < 5; i += 1) runs.push(await run(verifier, token, iterations, concurrency));
  return { wall: Math.min(...runs.map((r) => r.wall)), cpu: Math.min(...runs.map((r) => r.cpu)) };
}

const rows = [];
for (const alg of ['RS256', 'ES256']) {
  const { token, verifier, cached } = await setUp(alg);
  for (const concurrency of [1, 16]) {
    const without = await measure(verifier, token, 2_000, concurrency);
    const withCache = await measure(cached, token, 100_000, concurrency);
    rows.push({
      alg,
      concurrency,
      tokenBytes: token.length,
      'uncached µs (wall/cpu)': `${without.wall.toFixed(1)} / ${without.cpu.toFixed(1)}`,
      'cached µs (wall/cpu)': `${withCache.wall.toFixed(2)} / ${withCache.cpu.toFixed(2)}`,
      'gain (wall/cpu)': `${(without.wall / withCache.wall).toFixed(0)}x / ${(without.cpu / withCache.cpu).toFixed(0)}x`,
    });
  }
}
console.table(rows);
console.log(`node ${process.version}, ${process.platform}/${process.arch}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
