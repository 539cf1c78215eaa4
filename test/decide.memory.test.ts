import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, postJson, readJson } from './helpers/app.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/** The heap in use once garbage is collected, MB. */
function heldMb(): number {
  collectGarbage();
  return process.memoryUsage().heapUsed / 1e6;
}

/** A string nested `depth` levels deep in lists and maps, the pattern of lists and maps given by `seed`'s bits. */
function nested(seed: number, depth: number): unknown {
  let value: unknown = 'x';
  for (let level = 0; level < depth; level += 1) value = (seed >> (level % 30)) & 1 ? [value] : { k: value };
  return value;
}

describe('POST /decide: request values nested deeply, in a new shape each time', () => {
  let app: App;
  beforeAll(async () => {
    ({ app } = await buildTestApp());
  });

  it('are decided as any value of their type, and leave nothing behind in the CEL library', async () => {
    const approve = (seed: number) => ({
      subject: { id: 'u-2', properties: { roles: ['finance_manager'], scope: 'invoice.write', region: 'EU', approval_limit: nested(seed, 60) } },
      action: 'approve',
      resource: { type: 'invoice', id: 'inv-1', properties: { invoice_type: 'purchase', region: nested(seed + 1, 60), status: 'submitted', amount: 10, owner: 'u-1' } },
      context: { mfa: nested(seed + 2, 60) },
    });
    // Warm: the types and overloads every request meets are made once.
    for (let seed = 0; seed < 50; seed += 1) await postJson(app, '/decide', approve(seed * 7919));
    const before = heldMb();
    for (let seed = 50; seed < 1_050; seed += 1) {
      const answer = await readJson(await postJson(app, '/decide', approve(seed * 7919)));
      // D3 asks for context.mfa == true, which a list or map is not; P4 needs a string region.
      expect(answer).toMatchObject({ decision: 'deny', reasons: [{ rule: 'D3-approve-requires-mfa' }] });
    }
    // Unbounded, the library kept ~86 KB of types per request with one such value: 1,000
    // requests with three held well over 200 MB.
    expect(heldMb() - before).toBeLessThan(25);
  });
});
