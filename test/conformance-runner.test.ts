import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { conformanceRunner, repoRoot, runConformance, type RunResult } from './helpers/process.js';
import { tempDir } from './helpers/tmp.js';

async function vectorsDir(files: Readonly<Record<string, string>>): Promise<string> {
  const dir = await tempDir();
  for (const [name, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return dir;
}

describe('npm run conformance, on vector files it cannot use', () => {
  let run: RunResult;
  beforeAll(async () => {
    const dir = await vectorsDir({
      'todo/decisions-authorization-api-1_0-01.json': '{"evaluation":[',
      'todo/decisions-authorization-api-1_0-02.json': '{"evaluation":[],"evaluations":[]}',
      'api-gateway/decisions.json': '{"evaluation":[{"request":{}}]}',
      'search/subject/results.json': '{"evaluation":[]}',
      // A search no one passes, so only an expectation read as "no results" would pass it.
      'search/resource/results.json': '{"evaluation":[{"request":{"subject":{"type":"user","id":"nobody"},"action":{"name":"view"},"resource":{"type":"record"}},"expected":{}}]}',
      'search/action/results.json': '{"evaluation":[{"request":{"subject":{"type":"user","id":"nobody"},"resource":{"type":"record","id":"101"}},"expected":{"result":[]}}]}',
      'idp/results.json': '{}',
      'certification/certification-1_0-cases.DERIVED.json': '{"cases":[]}',
    });
    run = await runConformance({ AUTHZEN_VECTORS: dir });
  }, 60_000);

  it('exits non-zero', () => {
    expect(run.code).toBe(1);
  });

  it('prints one line per problem, none of them a stack trace or a JSON dump', () => {
    for (const line of run.stdout.trimEnd().split('\n')) {
      expect(line).toMatch(/^(FAIL [^:]+: .+|[^:]+: \d+ passed, \d+ failed|\d+ passed, \d+ failed)$/);
    }
    expect(run.stderr).toBe('');
  });

  it('names the file of a malformed one', () => {
    expect(run.stdout).toMatch(/^FAIL todo 1_0-01: cannot run: todo\/decisions-authorization-api-1_0-01\.json: .*JSON/m);
  });

  it('names the file and the JSON path of one not in the vector format', () => {
    expect(run.stdout).toMatch(/^FAIL api-gateway: cannot run: api-gateway\/decisions\.json: \$\.evaluation\[0\]\.expected: /m);
  });

  it('fails a search vector whose expected has no results list, rather than reading it as none', () => {
    expect(run.stdout).toMatch(/^FAIL search\/resource: cannot run: search\/resource\/results\.json: \$\.evaluation\[0\]\.expected\.results: /m);
    expect(run.stdout).toMatch(/^FAIL search\/action: cannot run: search\/action\/results\.json: \$\.evaluation\[0\]\.expected\.results: /m);
  });

  it('fails a file with no vectors rather than passing it with none', () => {
    for (const [suite, file] of [
      ['todo 1_0-02', 'todo/decisions-authorization-api-1_0-02.json'],
      ['search/subject', 'search/subject/results.json'],
      ['idp', 'idp/results.json'],
      ['certification', 'certification/certification-1_0-cases.DERIVED.json'],
    ]) {
      expect(run.stdout).toContain(`FAIL ${suite}: cannot run: ${file}: `);
      expect(run.stdout).toContain(`${suite}: 0 passed, 1 failed`);
    }
  });
});

describe('npm run conformance, its output closed early (`| head -1`)', () => {
  it('stops its servers and exits, without a stack trace', async () => {
    const child = spawn(process.execPath, conformanceRunner, { cwd: repoRoot, env: { PATH: process.env['PATH'], AUTHZEN_VECTORS: await tempDir() }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdout.once('data', () => child.stdout.destroy());
    // 'close': stderr read to its end, which 'exit' can come before.
    const [code] = (await once(child, 'close')) as [number | null];
    expect(stderr).toBe('');
    expect(code).toBe(1);
  }, 60_000);
});

describe('npm run conformance, TOTALS_FILE', () => {
  it('that cannot be written is one line and a failure, not a stack trace', async () => {
    const dir = await tempDir();
    const run = await runConformance({ AUTHZEN_VECTORS: dir, TOTALS_FILE: join(dir, 'missing', 'totals.json') });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/^FAIL conformance: TOTALS_FILE: ENOENT: .*missing\/totals\.json.*$/m);
  }, 60_000);
});

describe('npm run conformance, AUTHZEN_VECTORS set but empty', () => {
  it('reads the default folder, as an unset one, not the repo root', async () => {
    const run = await runConformance({ AUTHZEN_VECTORS: '' });
    expect(run.stdout).not.toContain(`(vectors: ${repoRoot};`);
    for (const named of run.stdout.matchAll(/\(vectors: ([^;]+);/g)) expect(named[1]).toBe(resolve(repoRoot, '../shared/conformance/authzen'));
  }, 60_000);
});

describe('npm run conformance, a vector the server answers with an error', () => {
  it('fails it, though the error body reads as a false decision or as no results', async () => {
    const dir = await vectorsDir({
      // No subject: a 400, whose problem body has no decision and no results.
      'api-gateway/decisions.json': '{"evaluation":[{"request":{"action":{"name":"GET"},"resource":{"type":"route","id":"/todos"}},"expected":false}]}',
      'search/action/results.json': '{"evaluation":[{"request":{"resource":{"type":"record","id":"101"}},"expected":{"results":[]}}]}',
    });
    const run = await runConformance({ AUTHZEN_VECTORS: dir });
    expect(run.stdout).toContain('api-gateway: 0 passed, 1 failed');
    expect(run.stdout).toContain('search/action: 0 passed, 1 failed');
    expect(run.stdout).toMatch(/^FAIL api-gateway: .* → 400 /m);
  }, 60_000);
});

describe('npm run conformance, a certification case that follows a page token', () => {
  const search = { subject: { type: 'user' }, action: { name: 'read' }, resource: { type: 'record', id: 'record-1' } };
  const testCase = (id: string, request: unknown) => ({
    id, label: id, method: 'POST', endpoint: '/access/v1/search/subject', headers: { 'Content-Type': 'application/json' }, request, expected: { status: 200, structure_only: true },
  });
  const followed = (id: string) => testCase(id, { ...search, page: { token: '<next_token from previous response>' } });

  it('sends the next_token of the response just before, and fails when that gave none to follow', async () => {
    const cases = [
      followed('first'),
      testCase('limited', { ...search, page: { limit: 1 } }),
      followed('after-limited'),
      testCase('limited-again', { ...search, page: { limit: 1 } }),
      testCase('whole', search),
      followed('after-whole'),
    ];
    const run = await runConformance({ AUTHZEN_VECTORS: await vectorsDir({ 'certification/certification-1_0-cases.DERIVED.json': JSON.stringify({ cases }) }) });
    expect(run.stdout).toContain('certification: 4 passed, 2 failed');
    expect(run.stdout).toMatch(/^FAIL certification: first first: the previous response gave no next_token to follow$/m);
    expect(run.stdout).toMatch(/^FAIL certification: after-whole after-whole: the previous response gave no next_token to follow$/m);
  }, 60_000);
});
