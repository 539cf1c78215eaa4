import type { Counts, Latency, PhaseSummary } from './load-protocol.js';
import { check, type Check } from './scenario.js';
import type { ServiceCounters } from './service-probe.js';

/** Zero permits the oracle would not give, and zero denies where it permits. */
export function noWrongDecisions(counts: Counts, label = 'requests'): Check {
  const wrong = counts.wrongPermit + counts.wrongDeny;
  return check(`no wrong decisions (${label})`, wrong === 0, `${counts.wrongPermit} wrong permits, ${counts.wrongDeny} wrong denies in ${counts.answered} answers`);
}

export function no5xx(counts: Counts, label = 'requests'): Check {
  return check(`no 5xx (${label})`, counts.status5xx === 0, `${counts.status5xx} of ${counts.answered} answers`);
}

/** Requests that got no answer, not counting oversized bodies refused by closing the connection. */
export function unanswered(counts: Counts): number {
  return counts.sent - counts.answered - counts.closedWhileSending;
}

/** Every request answered, each as expected. */
export function allAnswered(counts: Counts, label = 'requests'): Check {
  const failed = unanswered(counts);
  const closed = counts.closedWhileSending === 0 ? '' : `, ${counts.closedWhileSending} oversized bodies refused by closing the connection`;
  return check(
    `every request answered as expected (${label})`,
    counts.sent > 0 && failed === 0 && counts.correct === counts.sent,
    `${counts.correct} of ${counts.sent} as expected, ${failed} without an answer, ${counts.unexpectedStatus} with another status${closed}`,
  );
}

/**
 * The soak's verdict on its whole run: every request answered as expected, none decided
 * wrongly, no 5xx. Answers with another status count against it, not only missing answers.
 */
export function soakChecks(total: Counts): Check[] {
  const label = 'whole run';
  return [allAnswered(total, label), noWrongDecisions(total, label), no5xx(total, label)];
}

/** Token mode, during a fault: every request answered, each as expected or its token refused (`invalid_token`), never decided wrongly. */
export function decidedOrRefused(counts: Counts, label = 'requests'): Check {
  const failed = unanswered(counts);
  return check(
    `every request decided right or its token refused (${label})`,
    counts.sent > 0 && failed === 0 && counts.correct + counts.tokenRefused === counts.sent,
    `${counts.correct} as expected, ${counts.tokenRefused} refused as invalid_token, ${counts.wrongPermit + counts.wrongDeny} wrong, ${failed} without an answer, ${counts.unexpectedStatus} with another status, of ${counts.sent}`,
  );
}

/** Token mode: tokens that cannot be checked are all refused (`invalid_token`); none is decided on. */
export function allRefused(counts: Counts, label = 'requests'): Check {
  return check(
    `every token refused, none decided on (${label})`,
    counts.sent > 0 && counts.tokenRefused === counts.sent,
    `${counts.tokenRefused} of ${counts.sent} refused as invalid_token; ${counts.correct + counts.wrongPermit + counts.wrongDeny} decided (${counts.wrongPermit} wrong permits), ${unanswered(counts)} without an answer`,
  );
}

/**
 * A dependency's trouble cost requests no more than its deadline: inside the service, p99 of
 * /decide under 50 ms during the spell (at most 1% of its decisions over that histogram bound);
 * at the client, the median within `deadlineMs` of the phase before. The client's p99 is only
 * reported: on a shared machine it moves with the host's CPU stalls (150 ms bursts seen with the
 * service's own p99 under 50 ms), whatever the dependency does.
 */
export function latencyBounded(label: string, counted: ServiceCounters, during: PhaseSummary, before: PhaseSummary, deadlineMs: number): Check {
  const ms = (latency: Latency) => `${latency.p50.toFixed(1)} / ${latency.p99.toFixed(1)}`;
  return check(
    `latency bounded ${label}: p99 inside the service under 50 ms, median at the client within the ${deadlineMs} ms deadline`,
    counted.decisions > 0 && counted.decisionsOver50ms <= counted.decisions * 0.01 && during.latency.p50 <= before.latency.p50 + deadlineMs,
    `${counted.decisionsOver50ms} of ${counted.decisions} decisions over 50 ms (pdp_decision_duration_seconds), event loop delayed ${Math.round(counted.eventLoopLagMaxMs)} ms at most; at the client p50 / p99 ${ms(during.latency)} ms, slowest ${during.latency.max.toFixed(1)} ms (before: ${ms(before.latency)})`,
  );
}
