import type { Caller } from '../caller/keys.js';
import type { DecisionMeta } from '../decision/record.js';

/** Per-request variables shared by middleware and routes. */
export interface AppEnv {
  Variables: {
    requestId: string;
    /** Who is calling; set by requestFrame (`anonymous` when caller keys are off). */
    caller: Caller;
    /** From a valid W3C `traceparent` header; undefined otherwise. */
    traceId: string | undefined;
    /** A response built with X-Request-ID already among its headers (jsonWithRequestId). */
    responseWithId: Response | undefined;
    /** What the request's decisions are recorded with (decisionMeta); undefined until a route asks for one. */
    decisionMeta: DecisionMeta | undefined;
    /** When the request began, on performance.now()'s clock: its deadline runs from here (requestFrame). */
    startedAt: number;
    /** Set once the request was answered without its route (401, 408, 503 `timeout`): what the route still decides reaches no one. */
    answered: true | undefined;
  };
}
