import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { startIntrospectionServer, type IntrospectionServer } from '../../../test/helpers/introspection-server.js';
import { allAnswered, allRefused, decidedOrRefused, no5xx, noWrongDecisions } from '../lib/checks.js';
import type { TokenSubject } from '../lib/load-protocol.js';
import { kindIn, phaseLatencyFigures, phaseNamed } from '../lib/phases.js';
import { check, type Scenario } from '../lib/scenario.js';
import { claimsOf, decideWithToken, tokenSubjects, writeTokenSet } from '../lib/tokens.js';

/** INTROSPECTION_TIMEOUT_MS, its default. */
const timeoutMs = 2_000;
/** How much later than the introspection timeout an answer may come, on a shared machine. */
const marginMs = 500;
const ratePerSecond = 100;
const pastTimeout = { phase: 'slow, past the timeout', delayMs: 3_000 };
const underTimeout = { phase: 'slow, under the timeout', delayMs: 1_500 };
/** The server slow past the timeout, then just under it, then fast again. */
const slowdowns: readonly { readonly phase: string; readonly delayMs: number }[] = [pastTimeout, underTimeout, { phase: 'fast again', delayMs: 0 }];
/** How long before each change requests count apart, as they may meet either side of it. */
const guardMs = 250;
const changing = (phase: string) => `changing to ${phase}`;
const cached = 'cached';
const fresh = 'fresh';
const retried = 'retried';

/** What each kind of token must get in each phase: unlisted, decided as the oracle says; `changing to …`, decided or refused. */
const expected: Readonly<Record<string, Readonly<Record<string, 'refused' | 'either'>>>> = {
  [pastTimeout.phase]: { [fresh]: 'refused', [retried]: 'refused' },
  // A lookup begun past the timeout may still be running, and requests for its token join it.
  [underTimeout.phase]: { [retried]: 'either' },
};
const judges = { decided: allAnswered, refused: allRefused, either: decidedOrRefused };

/** Registers an active opaque token for `subject`: the claims introspection answers with. */
function register(server: IntrospectionServer) {
  return (subject: TokenSubject) => {
    const token = randomBytes(18).toString('base64url');
    server.answer(token, { body: { ...claimsOf(subject), active: true, exp: Math.floor(Date.now() / 1000) + 3_600 } });
    return token;
  };
}

/**
 * Opaque tokens under load while the introspection endpoint slows down past the service's
 * introspection timeout, then to just under it. Some requests carry a few tokens introspected
 * before the load, so the service holds their answers; others carry tokens each sent once, so
 * every one needs the endpoint: past the timeout those must be refused (`invalid_token`),
 * never decided on, and answered at the timeout; under it they are decided, only slower. A
 * third set of tokens first comes while past the timeout and again and again after: a failed
 * lookup is not kept, so they are decided once the endpoint answers in time.
 */
export const introspectionSlow: Scenario = {
  name: 'introspection-slow',
  title: 'Introspection endpoint slower than its timeout, then just under it, under load',
  async run({ quick, spawnServer, startLoad, tempDir }) {
    const leadMs = quick ? 1_000 : 3_000;
    const phaseMs = quick ? 2_500 : 5_000;
    const durationMs = leadMs + slowdowns.length * phaseMs;
    // Enough fresh tokens that none is sent twice: the load stops before it runs out.
    const freshCount = Math.ceil((ratePerSecond * durationMs) / 1000 / 2) + 500;
    const introspection = await startIntrospectionServer();
    try {
      const dir = await tempDir();
      const cachedSet = await writeTokenSet(dir, { kind: cached }, tokenSubjects(8, 64), register(introspection));
      const freshSet = await writeTokenSet(dir, { kind: fresh }, tokenSubjects(9, freshCount), register(introspection));
      const retriedSet = await writeTokenSet(dir, { kind: retried, fromMark: pastTimeout.phase }, tokenSubjects(10, 16), register(introspection));
      const server = spawnServer({
        INTROSPECTION_URL: introspection.url,
        INTROSPECTION_CLIENT_ID: introspection.clientId,
        INTROSPECTION_CLIENT_SECRET: introspection.clientSecret,
        INTROSPECTION_TIMEOUT_MS: String(timeoutMs),
      });
      const port = await server.listening;
      for (const { token } of cachedSet.pairs) await decideWithToken(port, token);
      const load = startLoad({
        port,
        concurrency: 256,
        ratePerSecond,
        durationMs,
        maxRequests: 2 * freshCount,
        seed: 8,
        tokens: [cachedSet.set, freshSet.set, retriedSet.set],
      });
      await load.waitFor('started');
      await sleep(leadMs);
      const lookups: number[] = [];
      for (const step of slowdowns) {
        // Requests sent just before a change may meet the server after it: they have a phase of their own.
        load.mark(changing(step.phase));
        await sleep(guardMs);
        const before = introspection.requests;
        introspection.delayMs = step.delayMs;
        load.mark(step.phase);
        await sleep(phaseMs - guardMs);
        lookups.push(introspection.requests - before);
      }
      const summary = await load.done;

      const pastFresh = kindIn(phaseNamed(summary, pastTimeout.phase), fresh);
      const underFresh = kindIn(phaseNamed(summary, underTimeout.phase), fresh);
      const slowest = Math.max(...summary.phases.map((p) => p.latency.max));
      const expectations = summary.phases.flatMap((p) =>
        p.name.startsWith(changing(''))
          ? [decidedOrRefused(p.counts, p.name)]
          : Object.entries(p.kinds).map(([kind, tally]) => judges[expected[p.name]?.[kind] ?? 'decided'](tally.counts, `${kind}: ${p.name}`)),
      );
      return {
        tried: `${ratePerSecond} opaque-token requests/s from up to 256 connections, the tokens taken in turn from 64 introspected before the load (cached), tokens never sent twice (fresh), and from the first slowdown on 16 sent again and again (retried); the introspection endpoint then answers after ${pastTimeout.delayMs} ms, then ${underTimeout.delayMs} ms, then at once, ${phaseMs / 1000} s each (INTROSPECTION_TIMEOUT_MS=${timeoutMs})`,
        counts: summary.total,
        checks: [
          ...expectations,
          check(
            `every answer within the introspection timeout + ${marginMs} ms`,
            slowest <= timeoutMs + marginMs,
            `slowest ${Math.round(slowest)} ms`,
          ),
          check(
            'refused at the timeout, not before it',
            pastFresh.counts.tokenRefused > 0 && pastFresh.latency.p50 >= timeoutMs,
            `fresh tokens while past the timeout: p50 ${Math.round(pastFresh.latency.p50)} ms`,
          ),
          check(
            'under the timeout, decided after the delay',
            underFresh.counts.correct > 0 && underFresh.latency.p50 >= underTimeout.delayMs,
            `fresh tokens while under the timeout: p50 ${Math.round(underFresh.latency.p50)} ms`,
          ),
          noWrongDecisions(summary.total),
          no5xx(summary.total),
        ],
        figures: {
          ...phaseLatencyFigures(summary),
          [`introspection requests: ${slowdowns.map((step) => step.phase).join(' / ')}`]: lookups.join(' / '),
        },
      };
    } finally {
      await introspection.close();
    }
  },
};
