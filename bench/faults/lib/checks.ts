import type { Counts } from './load-protocol.js';
import { check, type Check } from './scenario.js';

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
