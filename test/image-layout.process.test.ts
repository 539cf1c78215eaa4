import { cp, readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { repoRoot, runNode } from './helpers/process.js';
import { spawnNode } from './helpers/spawned.js';
import { tempDir } from './helpers/tmp.js';

/**
 * The files the Dockerfile's runtime stage copies, as [source in this checkout, path under the
 * image's /app]: its COPY lines after the last FROM, sources of the build stage (`--from=build`)
 * read from this checkout's build, which `npm test` makes as the build stage does.
 */
async function runtimeCopies(): Promise<[string, string][]> {
  const lines = (await readFile(resolve(repoRoot, 'Dockerfile'), 'utf8')).split('\n');
  const runtime = lines.slice(lines.findLastIndex((line) => line.startsWith('FROM ')));
  return runtime.filter((line) => line.startsWith('COPY ')).flatMap((line) => {
    const words = line.split(/\s+/).slice(1).filter((word) => !word.startsWith('--'));
    const target = words.pop() ?? '';
    return words.map((source): [string, string] => {
      const from = source.startsWith('/app/') ? source.slice('/app/'.length) : source;
      return [resolve(repoRoot, from), target.endsWith('/') ? join(target, basename(from)) : target];
    });
  });
}

// The image holds the bundled programs and no node_modules: whatever one of them loads from a
// package, at its start or later (a CLI command, the Redis client), must be in its bundle.
describe('the programs as the image holds them, without node_modules', () => {
  let app: string;
  beforeAll(async () => {
    app = await tempDir();
    const copies = await runtimeCopies();
    expect(copies.map(([, target]) => target)).toEqual(expect.arrayContaining(['dist/main.js', 'dist/healthcheck.js']));
    for (const [source, target] of copies) await cp(source, join(app, target), { recursive: true });
  });

  it('serves decisions with the decision cache in Redis, and passes the health check', async () => {
    const server = spawnNode(join(app, 'dist/main.js'), { PORT: '0', HOST: '127.0.0.1', POLICY_DIR: join(app, 'policies'), REDIS_URL: inject('redisUrl'), CACHE_SIGNING_SECRET: 'a secret of the image layout test, 32+ characters' });
    try {
      const [listening] = await server.waitFor((line) => line['msg'] === 'invoice-pdp listening');
      await server.waitFor((line) => typeof line['msg'] === 'string' && line['msg'].startsWith('redis up'));
      const port = String(listening?.['port']);
      const answer = await fetch(`http://127.0.0.1:${port}/access/v1/evaluation`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ subject: { type: 'user', id: 'alice' }, action: { name: 'read' }, resource: { type: 'invoice', id: '1' } }),
      });
      expect(answer.status).toBe(200);
      expect(await answer.json()).toMatchObject({ decision: false });
      expect(await runNode(join(app, 'dist/healthcheck.js'), [], { HOST: '127.0.0.1', PORT: port })).toMatchObject({ code: 0 });
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });

  it('carries the name, version and license text of each dependency its bundles hold', async () => {
    const notices = await readFile(join(app, 'dist/THIRD-PARTY-NOTICES.txt'), 'utf8');
    const { dependencies } = JSON.parse(await readFile(resolve(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const name of Object.keys(dependencies)) {
      const { version, license } = JSON.parse(await readFile(resolve(repoRoot, 'node_modules', name, 'package.json'), 'utf8')) as { version: string; license: string };
      expect(notices).toContain(`\n${name}@${version} (${license})\n`);
    }
    // prom-client's Apache-2.0, whose text must go with its code, and zod's MIT copyright notice.
    expect(notices).toContain('Apache License');
    expect(notices).toMatch(/Copyright \(c\) \d{4} Colin McDonnell/);
  });

  it('runs pdp: validate, test, keys and token', async () => {
    const pdp = join(app, 'dist/cli/main.js');
    expect(await runNode(pdp, ['validate', join(app, 'policies')])).toMatchObject({ code: 0, stdout: expect.stringMatching(/^ok: /) });
    expect(await runNode(pdp, ['test', join(app, 'policies')])).toMatchObject({ code: 0, stdout: expect.stringMatching(/ passed, 0 failed/) });
    const keys = join(await tempDir(), 'keys');
    expect(await runNode(pdp, ['keys', keys])).toMatchObject({ code: 0 });
    const token = await runNode(pdp, ['token', '--key', join(keys, 'private.jwk.json'), '--iss', 'https://issuer.example', '--aud', 'invoice-api', '--claims', '{"sub":"alice"}']);
    expect(token).toMatchObject({ code: 0, stdout: expect.stringMatching(/^eyJ[\w-]+\.[\w-]+\.[\w-]+\n$/) });
  });
});

// A floating tag (node:26-slim) builds on whichever release was newest that day, while CI tests
// the one scripts/with-node.sh fetched into .cache/node/ once: pinned, both run the same.
describe('the image base', () => {
  it('is one exact Node.js release, in the build stage and the runtime stage', async () => {
    const bases = (await readFile(resolve(repoRoot, 'Dockerfile'), 'utf8')).split('\n').filter((line) => line.startsWith('FROM '));
    expect(bases).toHaveLength(2);
    for (const base of bases) expect(base).toMatch(/^FROM node:\d+\.\d+\.\d+-slim(?: AS build)?$/);
    expect(new Set(bases.map((base) => base.split(' ')[1])).size).toBe(1);
  });
});
