import { afterEach, describe, expect, it } from 'vitest';
import { connectTo, readResponse } from './helpers/raw-http.js';
import { spawnServer, type ServerProcess } from './helpers/spawn-server.js';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('SIGTERM with connections that have not sent a request', () => {
  let proc: ServerProcess | undefined;
  afterEach(() => {
    if (proc?.child.exitCode === null) proc.child.kill('SIGKILL');
    proc = undefined;
  });

  it('closes a connection that never sent a byte and exits 0 at once, not at SHUTDOWN_TIMEOUT_MS', async () => {
    proc = spawnServer({ SHUTDOWN_TIMEOUT_MS: '8000' });
    const silent = await connectTo(await proc.listening);
    const silentClosed = new Promise((resolve) => silent.once('close', resolve));
    await pause(100);
    const signalled = performance.now();
    proc.child.kill('SIGTERM');
    const exit = await proc.exited;
    expect(exit.code).toBe(0);
    // Closed at the first sweep 500 ms after its last byte (0.6-0.8 s alone): well within half
    // of SHUTDOWN_TIMEOUT_MS, however loaded the host.
    expect(exit.at - signalled).toBeLessThan(4_000);
    await silentClosed;
    expect(proc.output()).toContain('shut down: every request answered');
  });

  it('answers a request whose headers arrive in parts during the drain, as long as they keep coming', async () => {
    proc = spawnServer({ SHUTDOWN_TIMEOUT_MS: '8000' });
    const socket = await connectTo(await proc.listening);
    const response = readResponse(socket);
    socket.write('GET /healthz HTTP/1.1\r\n');
    await pause(100);
    proc.child.kill('SIGTERM');
    for (const part of ['host: 127.0.0.1\r\n', 'x-request-id: parts-1\r\n']) {
      await pause(250);
      socket.write(part);
    }
    await pause(250);
    socket.write('\r\n');
    const answer = await response;
    expect([answer.status, answer.headers['x-request-id'], answer.headers['connection']]).toEqual([200, 'parts-1', 'close']);
    expect((await proc.exited).code).toBe(0);
  });

  it('answers 408 to a connection whose headers stopped arriving, and exits 0 soon after', async () => {
    proc = spawnServer({ SHUTDOWN_TIMEOUT_MS: '8000' });
    const partial = await connectTo(await proc.listening);
    const response = readResponse(partial);
    partial.write('GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nx-request-id: partial-1\r\n');
    await pause(100);
    const signalled = performance.now();
    proc.child.kill('SIGTERM');
    const answer = await response;
    expect(answer.status).toBe(408);
    expect(answer.headers['connection']).toBe('close');
    expect(JSON.parse(answer.body)).toMatchObject({ type: 'urn:invoice-pdp:problem:client_timeout' });
    const exit = await proc.exited;
    expect(exit.code).toBe(0);
    expect(exit.at - signalled).toBeLessThan(4_000);
  });
});
