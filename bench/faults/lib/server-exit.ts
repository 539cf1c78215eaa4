import { setTimeout as sleep } from 'node:timers/promises';
import type { Exit, ServerProcess } from '../../../test/helpers/spawn-server.js';

/** How a signalled service ended: its exit, or `hung` when it had to be killed. */
export interface Ending {
  readonly exit: Exit;
  /** Still running at the bound, so SIGKILLed: a shutdown that hangs fails its scenario rather than the run waiting for ever. */
  readonly hung: boolean;
}

/** Waits up to `boundMs` for the service to exit; past it, SIGKILLs it. */
export async function exitWithin(server: ServerProcess, boundMs: number): Promise<Ending> {
  const exit = await Promise.race([server.exited, sleep(boundMs).then(() => undefined)]);
  if (exit !== undefined) return { exit, hung: false };
  server.child.kill('SIGKILL');
  return { exit: await server.exited, hung: true };
}

/** SIGTERM, then `exitWithin`. */
export function stopServer(server: ServerProcess, boundMs = 10_000): Promise<Ending> {
  server.child.kill('SIGTERM');
  return exitWithin(server, boundMs);
}
