/** Per-request variables shared by middleware and routes. */
export interface AppEnv {
  Variables: {
    requestId: string;
  };
}
