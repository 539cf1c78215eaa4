import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { echoWindowMs } from '../src/http/shutdown.js';
import { processRef, signalIfRunning, type ProcessRef } from './helpers/exited.js';
import { holdRequest } from './helpers/raw-http.js';
import { mainScript, spawnServer, type ServerProcess } from './helpers/spawn-server.js';

// A second SIGTERM exits through the service's own handler, not the signal's default action:
// the kernel never takes that action for PID 1, a container's main process, so `docker stop`
// twice (or `kill` twice) would leave it draining. Each is sent `echoWindowMs` after the service
// logged the first: sooner, it is taken for the first passed on again (npm start's Ctrl-C). The
// request held meanwhile is given longer than its 5 s by default, which on a loaded host ran out
// first (a 408, exit 0).

const pastEchoWindow = () => new Promise((r) => setTimeout(r, echoWindowMs));

const decideBody = JSON.stringify({
  subject: { id: 'alice', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } },
  action: 'read',
  resource: { type: 'invoice', properties: { region: 'EU' } },
});

let proc: ServerProcess | undefined;
let pid1: { readonly unshare: ChildProcess; readonly node: ProcessRef } | undefined;
afterEach(() => {
  if (proc?.child.exitCode === null) proc.child.kill('SIGKILL');
  proc = undefined;
  if (pid1 !== undefined) signalIfRunning(pid1.node, 'SIGKILL');
  pid1 = undefined;
});

const unshare = ['--user', '--map-root-user', '--pid', '--fork'];
/** Whether this host lets an unprivileged process start one as PID 1 of a new PID namespace. */
const canRunAsPid1 = process.platform === 'linux' && spawnSync('unshare', [...unshare, 'true']).status === 0;

describe('a second SIGTERM to the single process', () => {
  it('exits 1 at once, in its own handler, with a request in flight', async () => {
    proc = spawnServer({ SHUTDOWN_TIMEOUT_MS: '30000', REQUEST_TIMEOUT_MS: '30000' });
    const port = await proc.listening;
    const inFlight = await holdRequest(port, '/decide', decideBody);
    proc.child.kill('SIGTERM');
    for (let i = 0; i < 100 && !proc.output().includes('shutting down: draining connections'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(proc.output()).toContain('shutting down: draining connections');
    await pastEchoWindow();

    const signalled = performance.now();
    proc.child.kill('SIGTERM');
    const exit = await proc.exited;
    expect(exit).toMatchObject({ code: 1, signal: null });
    expect(exit.at - signalled).toBeLessThan(5_000);
    expect(proc.output()).toContain('second signal: exiting at once, connections cut');
    await expect(inFlight.response).rejects.toThrow(/closed/);
  });

  it.skipIf(!canRunAsPid1)('exits 1 at once as PID 1 of its namespace, as in a container', async () => {
    const child = spawn('unshare', [...unshare, process.execPath, mainScript], {
      env: { PATH: process.env['PATH'] ?? '', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', SHUTDOWN_TIMEOUT_MS: '30000', REQUEST_TIMEOUT_MS: '30000' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    const port = await new Promise<number>((ready, fail) => {
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        log += chunk;
        const match = /"port":(\d+)[^\n]*"msg":"invoice-pdp listening"/.exec(log);
        if (match?.[1] !== undefined) ready(Number(match[1]));
      });
      void exited.then(() => fail(new Error(`exited before listening:\n${log}`)));
    });
    // The service's pid as seen from here (it is 1 in its own namespace): unshare's one child.
    const node = Number(readFileSync(`/proc/${String(child.pid)}/task/${String(child.pid)}/children`, 'utf8').trim());
    pid1 = { unshare: child, node: processRef(node) };
    await holdRequest(port, '/decide', decideBody);

    process.kill(node, 'SIGTERM');
    for (let i = 0; i < 100 && !log.includes('shutting down: draining connections'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(log).toContain('shutting down: draining connections');
    await pastEchoWindow();
    process.kill(node, 'SIGTERM');
    // Before the fix the second signal was ignored: the drain went on for SHUTDOWN_TIMEOUT_MS.
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), 5_000))]);
    expect(code).toBe(1);
    expect(log).toContain('second signal: exiting at once, connections cut');
  });
});
