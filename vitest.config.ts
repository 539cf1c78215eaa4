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
  },
});
