/** Per-request variables shared by middleware and routes. */
export interface AppEnv {
  Variables: {
    requestId: string;
    /** From a valid W3C `traceparent` header; undefined otherwise. */
    traceId: string | undefined;
  };
}
