import { setTimeout as sleep } from 'node:timers/promises';
import { startJwksServer, type JwksMode, type JwksServer } from '../../../test/helpers/jwks-server.js';
import { jwks, sign, signingKey, type SigningKey } from '../../../test/helpers/signing.js';
import { allAnswered, allRefused, decidedOrRefused, no5xx, noWrongDecisions } from '../lib/checks.js';
import type { TokenSubject } from '../lib/load-protocol.js';
import { kindIn, phaseLatencyFigures, phaseNamed } from '../lib/phases.js';
import { check, type Scenario } from '../lib/scenario.js';
import { claimsOf, decideWithToken, tokenSubjects, writeTokenSet } from '../lib/tokens.js';

const issuer = 'https://idp.faults.test/';
const audience = 'invoice-api';
const cooldownSeconds = 1;
const fetchTimeoutMs = 1_000;
/** The new key must verify within this long of the key server's return: a cooldown, a fetch, and slack. */
const recoveryBoundMs = cooldownSeconds * 1000 + fetchTimeoutMs + 2_000;

/** The outage, one way of failing after another: the phase each opens, and what the key server does. */
const outage: readonly { readonly phase: string; readonly mode: JwksMode | 'stopped' }[] = [
  { phase: 'jwks 500', mode: 'error' },
  { phase: 'jwks reset', mode: 'reset' },
  { phase: 'jwks hang', mode: 'hang' },
  { phase: 'jwks garbage', mode: 'garbage' },
  { phase: 'jwks stopped', mode: 'stopped' },
];
/** After the key server's return, before it listens again: requests of the outage's last phase still in flight meet it, not its end. */
const guardMs = 250;
const known = 'known kid';
const rotated = 'new kid';

interface Readiness {
  readonly status: number;
  readonly keySets: string;
}

async function readiness(port: number): Promise<Readiness> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`);
    const body = (await res.json()) as { keySets?: { state?: string }[] };
    return { status: res.status, keySets: (body.keySets ?? []).map((k) => k.state).join(',') };
  } catch {
    return { status: 0, keySets: 'no answer' };
  }
}

/** Asks with `token` every 50 ms until it is decided on rather than refused; ms it took, or undefined past `boundMs`. */
async function untilAccepted(port: number, token: string, boundMs: number): Promise<number | undefined> {
  const began = performance.now();
  while (performance.now() - began < boundMs) {
    const reasons = await decideWithToken(port, token);
    // Decided: a rule or a default deny, not a refused token, a problem or no answer.
    if (reasons.length > 0 && !reasons.some((r) => r === 'invalid_token' || r === 'no answer' || r.startsWith('HTTP '))) return Math.round(performance.now() - began);
    await sleep(50);
  }
  return undefined;
}

/** Each kid's tokens for the subjects, as files for the load. */
async function tokenSets(dir: string, keys: { readonly known: SigningKey; readonly rotated: SigningKey }) {
  const subjects = tokenSubjects(7, 2_000);
  const mint = (key: SigningKey) => (subject: TokenSubject) => sign(key, claimsOf(subject), { issuer, audience, expiresIn: 3_600 });
  return Promise.all([
    writeTokenSet(dir, { kind: known }, subjects, mint(keys.known)),
    // The identity provider signs with the new key from the moment the outage begins.
    writeTokenSet(dir, { kind: rotated, fromMark: outage[0]?.phase }, subjects, mint(keys.rotated)),
  ]);
}

/** The key-set fetch failures the service logged (a warning each), by what went wrong. */
function loggedFetchFailures(log: string): Map<string, number> {
  const failures = new Map<string, number>();
  for (const line of log.split('\n')) {
    if (!line.includes('"key set fetch failed')) continue;
    const { err } = JSON.parse(line) as { err?: string };
    failures.set(err ?? '?', (failures.get(err ?? '?') ?? 0) + 1);
  }
  return failures;
}

async function setMode(server: JwksServer, mode: JwksMode | 'stopped'): Promise<void> {
  if (mode === 'stopped') await server.stop();
  else server.mode = mode;
}

/**
 * The key server fails every way it can (500, reset, hang, garbage, not listening) while
 * JWT-bearing load runs, and the identity provider rotates to a new key meanwhile. Known
 * kids must keep verifying from the keys the service holds; new-kid tokens cannot be
 * checked and must be refused, never decided on, until the key server is back.
 */
export const jwksOutage: Scenario = {
  name: 'jwks-outage',
  title: 'Key server down under JWT load, keys rotated during the outage',
  async run({ quick, spawnServer, startLoad, tempDir }) {
    const leadMs = quick ? 1_000 : 3_000;
    const modeMs = quick ? 700 : 2_000;
    const afterMs = quick ? 1_000 : 3_000;
    const keys = { known: await signingKey('kid-1'), rotated: await signingKey('kid-2') };
    const [knownSet, rotatedSet] = await tokenSets(await tempDir(), keys);
    const keyServer = await startJwksServer(jwks(keys.known));
    try {
      const server = spawnServer({
        JWKS_URL: keyServer.url,
        JWT_ISSUER: issuer,
        JWT_AUDIENCE: audience,
        JWKS_COOLDOWN_SECONDS: String(cooldownSeconds),
        JWKS_TIMEOUT_MS: String(fetchTimeoutMs),
        // Every request checks its signature against the key set, none rides on the verified-token cache.
        TOKEN_CACHE_ENTRIES: '0',
      });
      const port = await server.listening;
      const load = startLoad({
        port,
        concurrency: 256,
        ratePerSecond: 400,
        durationMs: leadMs + outage.length * modeMs + recoveryBoundMs + afterMs,
        maxRequests: 1e9,
        seed: 7,
        tokens: [knownSet.set, rotatedSet.set],
      });
      await load.waitFor('started');
      await sleep(leadMs);
      for (const [i, step] of outage.entries()) {
        await setMode(keyServer, step.mode);
        // The rotation: the new key is published while nobody can fetch it.
        if (i === 0) keyServer.publish(jwks(keys.known, keys.rotated));
        load.mark(step.phase);
        await sleep(modeMs);
      }
      const during = await readiness(port);
      load.mark('jwks back');
      await sleep(guardMs);
      keyServer.mode = 'ok';
      await keyServer.restart();
      const probe = rotatedSet.pairs[0]?.token ?? '';
      const recoveredMs = await untilAccepted(port, probe, recoveryBoundMs);
      load.mark('new key accepted');
      const after = await readiness(port);
      const summary = await load.done;
      const failures = loggedFetchFailures(server.output());
      const failed = [...failures.values()].reduce((a, b) => a + b, 0);
      const outageMs = outage.length * modeMs + guardMs;
      const mostFetches = Math.ceil(outageMs / (cooldownSeconds * 1000)) + 1;

      const outagePhases = outage.map((step) => phaseNamed(summary, step.phase));
      const back = phaseNamed(summary, 'jwks back');
      const accepted = phaseNamed(summary, 'new key accepted');
      const knownP99 = Math.max(...outagePhases.map((p) => kindIn(p, known).latency.p99));
      return {
        tried: `400 JWT-bearing requests/s (ES256, TOKEN_CACHE_ENTRIES=0 so each is verified) from up to 256 connections; the key server answers 500, resets, hangs, answers garbage, then stops listening, ${modeMs / 1000} s each; meanwhile the identity provider publishes a new key and signs half the tokens with it; JWKS_COOLDOWN_SECONDS=${cooldownSeconds}, JWKS_TIMEOUT_MS=${fetchTimeoutMs}`,
        counts: summary.total,
        checks: [
          ...summary.phases.map((p) => allAnswered(kindIn(p, known).counts, `known kid, ${p.name}`)),
          ...outagePhases.map((p) => allRefused(kindIn(p, rotated).counts, `new kid, ${p.name}`)),
          decidedOrRefused(kindIn(back, rotated).counts, 'new kid, jwks back until accepted'),
          allAnswered(kindIn(accepted, rotated).counts, 'new kid, once accepted'),
          check(`the new kid verifies within ${recoveryBoundMs} ms of the key server's return`, recoveredMs !== undefined, recoveredMs === undefined ? 'still refused' : `after ${recoveredMs} ms`),
          check(
            'known kids do not wait on the key server',
            knownP99 < fetchTimeoutMs,
            `known-kid p99 at most ${Math.round(knownP99)} ms in any phase of the outage (a hung fetch holds new-kid tokens up to ${fetchTimeoutMs} ms)`,
          ),
          check(
            'unknown kids refetch at most once per cooldown while the key server fails',
            failed > 0 && failed <= mostFetches,
            `${failed} failed fetches logged in ${outageMs / 1000} s of outage (at most ${mostFetches}), for ${outagePhases.reduce((n, p) => n + kindIn(p, rotated).counts.sent, 0)} new-kid tokens`,
          ),
          noWrongDecisions(summary.total),
          no5xx(summary.total),
          check(
            'ready throughout; keys stale during the outage, loaded after',
            during.status === 200 && during.keySets === 'stale' && after.status === 200 && after.keySets === 'loaded',
            `GET /readyz → ${during.status} ${during.keySets} at the end of the outage, ${after.status} ${after.keySets} after`,
          ),
        ],
        figures: {
          'new kid accepted after the key server came back, ms': recoveredMs ?? 'never',
          'failed key-set fetches the service logged': [...failures].map(([err, n]) => `${err} ×${n}`).join(', '),
          ...phaseLatencyFigures(summary),
        },
      };
    } finally {
      await keyServer.close();
    }
  },
};
