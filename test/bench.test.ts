import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildRef } from '../bench/compare.js';
import { failedStatus, readFigures } from '../bench/http/load.js';
import { bareWorkersId, probe, scenarios, verifyCache } from '../bench/http/scenarios.js';
import { benchOptions } from '../bench/options.js';
import { httpSection, runMeta } from '../bench/report.js';
import { checkScale } from '../bench/scale.js';
import { expectedDecision, scaleWorkload, type ScaleRule } from '../bench/scale-workload.js';
import { median } from '../bench/stats.js';
import { compilePolicies } from '../src/policy/compile.js';
import { startServer, type TestServer } from './helpers/http-server.js';
import { tempDir } from './helpers/tmp.js';

const figures = (errors: Record<string, number>, requests = 1_000) =>
  `Running 1s test\nBENCH_JSON ${JSON.stringify({ requests, durationUs: 1_000_000, errors, latencyUs: { p50: 900, p90: 1500, p99: 3000, max: 9000, mean: 1000.5 } })}\n`;
const clean = { connect: 0, read: 0, write: 0, status: 0, timeout: 0 };

describe('bench load figures', () => {
  it('reads the figures of a run in which every request succeeded', () => {
    expect(readFigures('wrk', figures(clean))).toEqual({ requests: 1_000, durationUs: 1_000_000, latencyUs: { p50: 900, p90: 1500, p99: 3000, max: 9000, mean: 1000.5 } });
  });

  it('refuses a run with non-2xx answers or socket errors: its figures measure failures', () => {
    expect(() => readFigures('wrk', figures({ ...clean, status: 12 }))).toThrow(/12 requests failed \(status 12\)/);
    expect(() => readFigures('node-loadgen', figures({ ...clean, read: 2, timeout: 1 }))).toThrow(/3 requests failed \(read 2, timeout 1\)/);
  });

  it('counts every answer outside 2xx as failed: a scenario answered by redirects measures the redirects', () => {
    expect([100, 199, 301, 302, 304, 399, 400, 404, 500].filter((status) => !failedStatus(status))).toEqual([]);
    expect([200, 201, 204, 299].filter(failedStatus)).toEqual([]);
  });

  it('refuses a run that completed no request, and output without figures', () => {
    expect(() => readFigures('wrk', figures(clean, 0))).toThrow(/no request/);
    expect(() => readFigures('wrk', 'unable to connect\n')).toThrow(/printed no figures/);
  });
});

describe('bench options', () => {
  it('reads the documented options', () => {
    const o = benchOptions(['--only=http', '--seconds=20', '--connections=64', '--no-cerbos', '--warmup=0', '--load=node']);
    expect([...o.only]).toEqual(['http']);
    expect(o).toMatchObject({ seconds: 20, connections: 64, noCerbos: true, warmup: 0, nodeLoad: true, quick: false });
    expect(benchOptions([])).toMatchObject({ connections: 32, seconds: undefined, warmup: undefined, nodeLoad: false });
    expect(benchOptions(['--hotpath', '--compare=HEAD~1', '--rounds=30'])).toMatchObject({ hotpath: true, compare: 'HEAD~1', rounds: 30 });
  });

  it('refuses numbers it would misread: a run of NaN or 2.5 seconds fails in wrk, 0 connections measures nothing', () => {
    expect(() => benchOptions(['--seconds=abc'])).toThrow(/--seconds takes a whole number of at least 1, not "abc"/);
    expect(() => benchOptions(['--seconds=2.5'])).toThrow(/--seconds/);
    expect(() => benchOptions(['--warmup=abc'])).toThrow(/--warmup/);
    expect(() => benchOptions(['--connections=0'])).toThrow(/--connections/);
    expect(() => benchOptions(['--rounds=-1'])).toThrow(/--rounds/);
  });

  it('refuses a --memory run too short to sample RSS in each half: the lowest RSS of an empty half was Infinity, written as null', () => {
    expect(() => benchOptions(['--memory', '--seconds=9'])).toThrow(/--memory takes --seconds of at least 15/);
    expect(benchOptions(['--memory', '--seconds=15'])).toMatchObject({ memory: true, seconds: 15 });
    expect(benchOptions(['--seconds=9'])).toMatchObject({ seconds: 9 });
  });

  it('refuses a section or load generator it does not know instead of running nothing or wrk', () => {
    expect(() => benchOptions(['--only=htp'])).toThrow(/--only takes .*not "htp"/);
    expect(() => benchOptions(['--only=http,'])).toThrow(/--only/);
    expect(() => benchOptions(['--load=nodejs'])).toThrow(/--load takes node/);
  });

  it('refuses modes it would silently drop, and --quick where it would overwrite committed results', () => {
    expect(() => benchOptions(['--profile', '--ceiling'])).toThrow(/--profile and --ceiling are separate runs/);
    expect(() => benchOptions(['--memory', '--compare=HEAD'])).toThrow(/separate runs/);
    expect(() => benchOptions(['--quick', '--ceiling'])).toThrow(/--quick .* --ceiling/);
    expect(() => benchOptions(['--quick', '--memory'])).toThrow(/--quick/);
  });
});

describe('bench scenario checks', () => {
  const serving = async (status: number, answer: unknown, run: (server: TestServer) => Promise<void>) => {
    const server = await startServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(answer)));
    });
    try {
      await run(server);
    } finally {
      await server.close();
    }
  };

  it('fails, not skips, a scenario whose endpoint this build answers 404: the bench runs this build, which has it', async () => {
    await serving(404, { title: 'Not Found' }, async ({ url }) => {
      expect(await probe(url, '/access/v1/evaluation', [{}], () => undefined)).toEqual({ fail: expect.stringMatching(/answered 404/) as unknown });
    });
  });

  it('fails, not skips, a memory-cache scenario whose repeated request is evaluated again', async () => {
    await serving(200, { decision: 'permit' }, async ({ url }) => {
      expect(await verifyCache('memory', url, '/decide', {}, undefined)).toEqual({ fail: expect.stringMatching(/evaluated again/) as unknown });
    });
    await serving(200, { decision: 'permit', cached: 'memory' }, async ({ url }) => {
      expect(await verifyCache('memory', url, '/decide', {}, undefined)).toBeUndefined();
    });
  });
});

describe('bench scenario labels', () => {
  it('say the token rows measure the token caches: each of the 5 tokens is verified or introspected once', () => {
    const label = (id: string) => scenarios({ cerbos: false }).find((s) => s.id === id)?.label;
    expect(label('decide/jwt-rs256/off')).toBe('/decide, JWT RS256 (5 tokens, each verified once, then from the verified-token cache), cache off');
    expect(label('decide/jwt-es256/memory')).toBe('/decide, JWT ES256 (5 tokens, each verified once, then from the verified-token cache), memory cache');
    expect(label('decide/opaque/off')).toBe('/decide, opaque token (5 tokens, each introspected once, then from the introspection cache), cache off');
    expect(label('decide/subject/off')).toBe('/decide, pre-verified subject, cache off');
  });
});

describe('bench median', () => {
  it('is the middle value of an odd count and the mean of the two middle ones of an even count', () => {
    expect(median([3, 1, 2])).toBe(2);
    // Two headline runs left of three: the aims judge their middle, not the faster one.
    expect(median([14_000, 10_000])).toBe(12_000);
    expect(median([4, 1, 10, 2])).toBe(3);
    expect(median([])).toBeNaN();
  });
});

describe('bench report', () => {
  it('does not say wrk was missing when --load=node asked for the Node load generator', () => {
    const text = httpSection({ meta: runMeta('npm run bench -- --load=node'), tool: 'node-loadgen', connections: 32, seconds: 10, warmupSeconds: 3, scenarios: [] }).join('\n');
    expect(text).toContain("the bench's Node load generator");
    expect(text).not.toContain('wrk not found');
  });
});

describe('bench report on another machine', () => {
  const load = { tool: 'wrk' as const, connections: 32, seconds: 10, requests: 120_000, rps: 12_000, latencyUs: { p50: 2_000, p90: 3_000, p99: 5_000, max: 9_000, mean: 2_500 } };
  const on = (cores: number) => {
    const meta = runMeta('npm run bench');
    return httpSection({
      meta: { ...meta, machine: { ...meta.machine, cores } },
      tool: 'wrk',
      connections: 32,
      seconds: 10,
      warmupSeconds: 3,
      scenarios: [{ id: 'decide/subject/default/workers-2', label: '/decide, pre-verified subject, default cache settings, WORKERS=2', status: 'measured', decisionsPerRequest: 1, load, ratioToBare: 0.5 }],
    }).join('\n');
  };

  it('names the cores it ran on, and calls WORKERS=2 the production default only where it is', () => {
    const eight = on(8);
    expect(eight).toContain('on 8 cores');
    expect(eight).not.toContain('2 cores');
    expect(eight).not.toContain('As deployed');
    expect(eight).toContain("not production's default on this machine's 8 cores (WORKERS=8)");
    expect(on(2)).toContain("As deployed (\"/decide, pre-verified subject, default cache settings, WORKERS=2\", the production default on this machine's 2 cores)");
  });
});

describe('bench scale workload', () => {
  const rule = (id: string, effect: 'permit' | 'deny', level = 0): ScaleRule => ({ id, effect, action: 'read', role: 'role1', tier: 't1', level });
  const asking = { type: 0, action: 'read', held: ['role1', 'role9'], tier: 't1', level: 2 };

  it('decides a generated query from the generator\'s own rules: default deny, any applicable deny beats every permit', () => {
    expect(expectedDecision([rule('r0', 'permit'), rule('r1', 'permit', 2), rule('r2', 'permit', 3)], asking)).toEqual({ decision: 'permit', rules: ['r0', 'r1'] });
    expect(expectedDecision([rule('r0', 'permit'), rule('r9', 'deny', 1)], asking)).toEqual({ decision: 'deny', rules: ['r9'] });
    expect(expectedDecision([rule('r0', 'permit')], { ...asking, action: 'list' })).toEqual({ decision: 'deny', rules: [] });
    expect(expectedDecision([rule('r0', 'permit')], { ...asking, held: ['role2', 'role3'] })).toEqual({ decision: 'deny', rules: [] });
    expect(expectedDecision([rule('r0', 'permit')], { ...asking, tier: 't2' })).toEqual({ decision: 'deny', rules: [] });
  });

  it('reaches every generated rule with a query of its own, so a rule the index never reads changes a decision', () => {
    for (const size of [100, 1_000]) {
      const { policies, timed, probes } = scaleWorkload(size);
      expect(probes).toHaveLength(size);
      const reached = new Set(probes.flatMap((p) => p.expect.rules.map((r) => `${p.query.type}/${r}`)));
      const named = new Set(policies.flatMap((rules, type) => rules.map((r) => `${type}/${r.id}`)));
      expect(new Set([...named].filter((r) => !reached.has(r)))).toEqual(new Set());
      expect(new Set([...timed, ...probes].map((c) => c.expect.decision))).toEqual(new Set(['permit', 'deny']));
    }
  });

  it('draws every rule afresh: the 10,000-rule set does not repeat runs of rules it has already drawn', () => {
    const drawn = scaleWorkload(10_000).policies.flat().map((r) => `${r.action}/${r.role}`);
    const runs = drawn.slice(8).map((_, i) => drawn.slice(i, i + 8).join(' '));
    expect(runs.length - new Set(runs).size).toBe(0);
  });

  it('fails the section on a compiled set that misses a rule or permits what a deny forbids', () => {
    const workload = scaleWorkload(1_000);
    expect(() => checkScale(compilePolicies(workload.files), workload)).not.toThrow();
    const missing = workload.files.map((f, t) => (t === 3 ? { ...f, policy: { ...f.policy, rules: f.policy.rules.slice(1) } } : f));
    expect(() => checkScale(compilePolicies(missing), workload)).toThrow(/type3: .* decided deny by \[\], expected permit by \[r0\]/);
    const noDeny = workload.files.map((f) => ({ ...f, policy: { ...f.policy, rules: f.policy.rules.map((r) => ({ ...r, effect: 'permit' as const })) } }));
    expect(() => checkScale(compilePolicies(noDeny), workload)).toThrow(/decided permit by .*expected deny/);
  });
});

describe('bench --compare build', () => {
  /** A checkout whose one commit builds with `build` as its npm build script. */
  const checkout = async (build: string) => {
    const root = await tempDir({ 'package.json': { name: 'ref', private: true, scripts: { build } } });
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@example.com', ...args], { cwd: root, stdio: 'ignore' });
    git('init', '-q');
    git('add', '.');
    git('commit', '-q', '-m', 'ref');
    return root;
  };

  it('builds REF with its own build script: dist/main.js is bundled by a step after tsc, which leaves it out', async () => {
    const root = await checkout('node -e "require(\'fs\').mkdirSync(\'dist\');require(\'fs\').writeFileSync(\'dist/main.js\',\'// bundled\')"');
    const { main } = buildRef('HEAD', root);
    expect(readFileSync(main, 'utf8')).toBe('// bundled');
  });

  it('refuses a REF whose build writes no dist/main.js, instead of starting a server that cannot load', async () => {
    const root = await checkout('node -e ""');
    expect(() => buildRef('HEAD', root)).toThrow(/HEAD \([0-9a-f]+\): its build wrote no dist\/main\.js/);
  });
});

describe('bench --quick', () => {
  it('runs one scenario of every kind the full run has: each cache mode, the cluster, the batch, no audit line', () => {
    const quick = scenarios({ cerbos: true }).filter((s) => s.quick).map((s) => s.id);
    expect(quick).toEqual(expect.arrayContaining([
      'decide/subject/off', 'decide/subject/memory', 'decide/subject/redis', 'decide/subject/off/no-audit',
      'decide/jwt-es256/off', 'decide/opaque/memory', 'decide/subject/default/workers-2', bareWorkersId,
      'authzen/evaluation', 'authzen/evaluations-10',
    ]));
  });

  it('checks and times cedar-wasm on the generated rules too, not only the compiled evaluator', async () => {
    const dir = await tempDir();
    execFileSync(process.execPath, ['--import', resolve('bench/ts-register.mjs'), resolve('bench/run.ts'), '--quick', '--only=scale'], { cwd: dir, stdio: 'ignore' });
    const { scale } = JSON.parse(readFileSync(join(dir, 'bench/results/quick.json'), 'utf8')) as { scale: { points: { cedar?: { iterations: number } }[] } };
    expect(scale.points.map((p) => p.cedar?.iterations)).toEqual([30]);
  });
});
