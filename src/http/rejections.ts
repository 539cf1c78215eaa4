import type { CounterSeries } from '../telemetry/families.js';
import { problemTypes, type ProblemCode } from './problem.js';

/** Where rejected requests are counted: one series per reason. */
export interface RejectionCounter {
  rejectedRequests(reason: string): CounterSeries;
}

/**
 * The `onProblem` hook of the app and of the server: counts every problem answered under its
 * type. Each type's series is looked up here, once, so all start at 0 and a rejection costs
 * one addition; an accepted request costs nothing.
 */
export function countRejections(counter: RejectionCounter): (code: ProblemCode) => void {
  const series = new Map((Object.keys(problemTypes) as ProblemCode[]).map((code) => [code, counter.rejectedRequests(code)]));
  return (code) => series.get(code)?.inc();
}
