import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup/redis.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // One file more than there are cores (vitest's default is one fewer): many files spend most of
    // their time waiting on the processes and servers they start. On two cores, three files at a
    // time ran the suite in 242 s against 326 s for two, with no timing test failing.
    maxWorkers: availableParallelism() + 1,
    // A worker runs file after file with the modules it has loaded, instead of a fresh process
    // loading the service's modules again for each of some 140 files: on two cores CI's tests took
    // 358 s instead of 403, and the whole run 819 s of CPU instead of 925, with every test passing
    // either way. The files share no state: no test mocks a module or leaves a global stubbed (one fakes Date within itself), each builds
    // its own app, server or process, and what modules keep is constant or reset by each call
    // that uses it (a decision's comparison budget, the request being read).
    isolate: false,
  },
});
