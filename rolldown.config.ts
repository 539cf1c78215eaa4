import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, sep } from 'node:path';
import { defineConfig, type Plugin } from 'rolldown';
import { byCodeUnits } from './src/code-unit-order.js';

// The programs the build ships, each bundled with the modules and dependencies it imports: Node
// loads one file instead of some two hundred (zod alone is 95), which took most of a start's
// work: `pdp token` now starts in 0.21 s of CPU, not 0.53, and the service is ready in 0.6 s of
// CPU, not 0.95. What a program imports only when it needs it (a CLI command, the Redis client,
// the service once its signals are held) stays a chunk of its own, loaded then.
// `tsc -p tsconfig.build.json` emits every other module to dist/ as before, for the tools that
// import one (the benchmarks, the tests' fixtures); these three it leaves to this build.
const chunks = 'dist/chunks';
rmSync(chunks, { recursive: true, force: true });

/** The folder of the package that `id`, a module's path, lies in under node_modules; undefined for our own. */
function packageFolder(id: string): string | undefined {
  const marker = `${sep}node_modules${sep}`;
  const at = id.lastIndexOf(marker);
  if (at === -1) return undefined;
  const [scope = '', name = ''] = id.slice(at + marker.length).split(sep);
  return id.slice(0, at + marker.length) + (scope.startsWith('@') ? join(scope, name) : scope);
}

/**
 * Writes `fileName` beside the bundles: for each package whose code they hold, its name, version
 * and license, and the text of its license and notice files. The bundles keep no comments, and the
 * image no node_modules, so this file is what carries the notices the licenses ask to go with
 * their code (MIT's copyright notice, Apache-2.0's license and NOTICE).
 */
function thirdPartyNotices(fileName: string): Plugin {
  return {
    name: 'third-party-notices',
    generateBundle(_options, bundle) {
      const folders = new Set<string>();
      for (const output of Object.values(bundle)) {
        if (output.type !== 'chunk') continue;
        for (const id of output.moduleIds) {
          const folder = packageFolder(id);
          if (folder !== undefined) folders.add(folder);
        }
      }
      const entries = [...folders].map((folder) => {
        const { name, version, license } = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as { name: string; version: string; license?: string };
        const texts = readdirSync(folder)
          .filter((file) => /^(licen[cs]e|notice|copying)/i.test(file))
          .sort()
          .map((file) => readFileSync(join(folder, file), 'utf8').trim());
        return { heading: `${name}@${version} (${license ?? 'no license field'})`, texts };
      });
      entries.sort((a, b) => byCodeUnits(a.heading, b.heading));
      const rule = '-'.repeat(72);
      const source = entries.map(({ heading, texts }) => [rule, heading, rule, ...texts].join('\n\n')).join('\n\n');
      this.emitFile({ type: 'asset', fileName, source: `Third-party software bundled in dist/ and its licenses.\n\n${source}\n` });
    },
  };
}

export default defineConfig({
  input: { main: 'src/main.ts', 'cli/main': 'src/cli/main.ts', healthcheck: 'src/healthcheck.ts' },
  platform: 'node',
  tsconfig: 'tsconfig.build.json',
  plugins: [thirdPartyNotices('THIRD-PARTY-NOTICES.txt')],
  output: {
    dir: 'dist',
    format: 'esm',
    entryFileNames: '[name].js',
    chunkFileNames: 'chunks/[name]-[hash].js',
    sourcemap: true,
    // A class or function renamed where two names meet in a chunk keeps its own name: cel-js'
    // TypeError class would be TypeError$1, beside the global one. Packages read names
    // (redis-errors names its errors `constructor.name`, which ioredis' replies are told apart
    // by), and so do stack traces and logs.
    keepNames: true,
  },
});
