import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, runServerToExit } from './helpers/process.js';
import { tempDir } from './helpers/tmp.js';

// A case stands for a request to the server. One whose body is larger than MAX_BODY_BYTES is
// refused there (413) whatever it says, so deciding it offline tests a request the server never
// decides: it is an error with its path, as a case over any other limit of a body is.

const policy = { id: 'docs', resource: 'doc', rules: [{ id: 'read', effect: 'permit', actions: ['read'], roles: ['reader'] }] };

/** A case whose request, written as compactly as JSON allows, takes `bytes` bytes in UTF-8. */
function caseOf(name: string, bytes: number) {
  const request = { subject: { id: 'u1', properties: { roles: ['reader'] } }, action: 'read', resource: { type: 'doc', properties: { note: '' } } };
  const padding = bytes - Buffer.byteLength(JSON.stringify(request));
  request.resource.properties.note = 'é'.repeat(Math.floor(padding / 2)) + 'a'.repeat(padding % 2);
  return { name, request, expect: { decision: 'permit' } };
}

async function policyDir(cases: readonly unknown[]): Promise<string> {
  const dir = await tempDir({ 'docs.json': policy });
  await mkdir(join(dir, 'tests'));
  await writeFile(join(dir, 'tests', 'docs.json'), JSON.stringify({ cases }, null, 2));
  return dir;
}

describe('test cases held to the body size the server takes (MAX_BODY_BYTES)', () => {
  it('pdp test refuses, exit 1, a case whose request is larger than MAX_BODY_BYTES, with its path', async () => {
    const dir = await policyDir([caseOf('small', 1000), caseOf('large', 3000)]);
    const run = await runCli(['test', dir], { MAX_BODY_BYTES: '2048' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('tests/docs.json $.cases[1].request');
    expect(run.stderr).toContain('MAX_BODY_BYTES');
    expect(run.stdout).not.toContain('passed');
  });

  it('pdp test counts the bytes of the compact UTF-8 JSON, not of the file as laid out', async () => {
    // 2,048 bytes as a body, far more as the file indents it: the server takes it.
    const dir = await policyDir([caseOf('at the limit', 2048)]);
    const within = await runCli(['test', dir], { MAX_BODY_BYTES: '2048' });
    expect(within.stderr).toBe('');
    expect(within.code).toBe(0);
    expect((await runCli(['test', dir], { MAX_BODY_BYTES: '2047' })).code).toBe(1);
  });

  it('the server running the tests (POLICY_TESTS_ON_RELOAD) refuses such a case with its own MAX_BODY_BYTES', async () => {
    const dir = await policyDir([caseOf('large', 3000)]);
    const run = await runServerToExit({ POLICY_DIR: dir, POLICY_TESTS_ON_RELOAD: 'true', MAX_BODY_BYTES: '2048', POLICY_WATCH: 'false' });
    expect(run.code).not.toBe(0);
    expect(run.stderr + run.stdout).toContain('$.cases[0].request');
  });
});
