import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup/redis.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // At least two files at a time, also on two cores (vitest's default there is one): many files
    // spend most of their time waiting on the processes and servers they start.
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
