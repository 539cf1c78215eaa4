import type { Scenario } from '../lib/scenario.js';
import { badPolicyStart } from './bad-policy-start.js';
import { hostileMix } from './hostile-mix.js';
import { introspectionSlow } from './introspection-slow.js';
import { jwksOutage } from './jwks-outage.js';
import { invalidReload } from './invalid-reload.js';
import { redisKilled } from './redis-killed.js';
import { redisSlow } from './redis-slow.js';
import { sigtermDeadline, sigtermDrain } from './sigterm.js';
import { stall } from './stall.js';
import { steadyLoad } from './steady-load.js';

/** Every scenario, in the order they run and appear in RELIABILITY.md. One line per scenario. */
export const scenarios: readonly Scenario[] = [
  steadyLoad,
  hostileMix,
  stall,
  sigtermDrain,
  sigtermDeadline,
  badPolicyStart,
  jwksOutage,
  introspectionSlow,
  redisKilled,
  redisSlow,
  invalidReload,
];
