import { rmSync } from 'node:fs';
import { defineConfig } from 'rolldown';

// The programs the build ships, each bundled with the modules and dependencies it imports: Node
// loads one file instead of some two hundred (zod alone is 95), which took most of a start's
// work: `pdp token` now starts in 0.21 s of CPU, not 0.53, and the service is ready in 0.6 s of
// CPU, not 0.95. What a program imports only when it needs it (a CLI command, the Redis
// client, the service once its signals are held) stays a chunk of its own, loaded then.
// `tsc -p tsconfig.build.json` emits every other module to dist/ as before, for the tools that
// import one (the benchmarks, the tests' fixtures); these three it leaves to this build.
const chunks = 'dist/chunks';
rmSync(chunks, { recursive: true, force: true });

export default defineConfig({
  input: { main: 'src/main.ts', 'cli/main': 'src/cli/main.ts', healthcheck: 'src/healthcheck.ts' },
  platform: 'node',
  tsconfig: 'tsconfig.build.json',
  output: {
    dir: 'dist',
    format: 'esm',
    entryFileNames: '[name].js',
    chunkFileNames: 'chunks/[name]-[hash].js',
    sourcemap: true,
    // A class or function renamed where two modules' names meet (`Response` → `Response$1`)
    // keeps its own name: packages read it (redis-errors names its errors `constructor.name`,
    // which ioredis' replies are told apart by), and so do stack traces and logs.
    keepNames: true,
  },
});
