import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { certificationFileSchema, isRecord, judgeCertification } from './certification.js';
import { judgeEvaluation, judgeEvaluations, judgeSearch } from './judge.js';
import { startServer, stopAllServers, type RunningServer } from './server.js';
import { transportChecks } from './transport.js';

/**
 * `npm run conformance`: the AuthZEN interop vector files (Todo 1.0-01 and -02, API gateway,
 * search, IdP; not Todo 1.0-00, which predates `properties`), the certification cases and the
 * certification's non-payload (transport) checks, sent to real listening servers over the
 * repo's fixtures, judged the way the official runners judge, but that an answer other than a 200
 * fails (see `runCase`). Vectors are read from AUTHZEN_VECTORS (relative paths from the repo root).
 */

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
// Empty counts as unset, as it does for the service's own settings: resolved, it would name the repo root.
const vectorsDir = resolve(repoRoot, process.env['AUTHZEN_VECTORS'] || '../shared/conformance/authzen');
const interopFixture = join(repoRoot, 'test', 'fixtures', 'authzen-interop');
const certificationFixture = join(repoRoot, 'test', 'fixtures', 'authzen-certification');

// The official runners send the key verbatim; unset, Node's fetch sends the string "undefined".
const apiKey = process.env['AUTHZEN_PDP_API_KEY'] ?? 'undefined';
const searchKeyHeader = process.env['AUTHZEN_PDP_API_HEADER'] || 'authorization';

interface CaseResult {
  readonly passed: boolean;
  /** What was sent and what came back, for a failure. */
  readonly detail: string;
}

interface Reply {
  readonly status: number;
  readonly body: unknown;
}

async function send(url: string, method: string, headers: Record<string, string>, body: unknown): Promise<Reply> {
  const res = await fetch(url, {
    method,
    headers,
    ...(method === 'GET' ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as unknown };
}

const clip = (value: unknown): string => {
  const json = JSON.stringify(value) ?? String(value);
  return json.length > 400 ? `${json.slice(0, 400)}…` : json;
};

type Judge = (body: unknown, expected: unknown) => boolean;

async function runCase(url: string, headers: Record<string, string>, request: unknown, expected: unknown, judge: Judge): Promise<CaseResult> {
  let reply: Reply | undefined;
  try {
    reply = await send(url, 'POST', headers, request);
    // Every vector is a valid request, so anything but a 200 is a failure: the official runners
    // read an error's body alone, as a false decision or as no results, and would pass it.
    const passed = reply.status === 200 && judge(reply.body, expected);
    return { passed, detail: `${clip(request)} → ${reply.status} ${clip(reply.body)}, expected ${clip(expected)}` };
  } catch (error) {
    return { passed: false, detail: `ERROR ${(error as Error).message}: ${clip(request)} → ${clip(reply?.body)}` };
  }
}

// The expectations are checked too: the judges read a missing `results` as "none" and a missing
// decision as false, as the official runners do, so a mistyped expectation would pass a wrong answer.
const vectorCase = <E extends z.ZodType>(expected: E) => z.object({ request: z.unknown(), expected });
const decisionCase = vectorCase(z.boolean());
const batchCase = vectorCase(z.array(z.strictObject({ decision: z.boolean() })));
const searchCase = vectorCase(
  z.object({ results: z.array(z.union([z.strictObject({ type: z.string(), id: z.string() }), z.strictObject({ name: z.string() })])) }),
);
const decisionFile = z
  .object({ evaluation: z.array(decisionCase).default([]), evaluations: z.array(batchCase).default([]) })
  .refine((file) => file.evaluation.length + file.evaluations.length > 0, 'no vectors in evaluation or evaluations');
const searchCases = z.array(searchCase).min(1, 'no vectors');
const searchFile = z.object({ evaluation: searchCases });
const idpFile = z.object({ search: searchCases });

/** A zod issue path as a JSON path: `$.evaluation[0].expected`. */
const jsonPath = (path: readonly PropertyKey[]): string =>
  `$${path.map((key) => (typeof key === 'number' ? `[${key}]` : `.${String(key)}`)).join('')}`;

/**
 * The vector file at `path` under the vectors directory, checked against `schema`. A file that
 * cannot be read, is not JSON, does not match or holds no vector throws one line naming it.
 */
async function vectors<S extends z.ZodType>(path: string, schema: S): Promise<z.infer<S>> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(join(vectorsDir, path), 'utf8'));
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`);
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new Error(`${path}: ${issue === undefined ? parsed.error.message : `${jsonPath(issue.path)}: ${issue.message}`}`);
}

interface Suite {
  readonly name: string;
  run(): Promise<CaseResult[]>;
}

const evaluationHeaders = { authorization: apiKey, 'content-type': 'application/json' };
const searchHeaders = { [searchKeyHeader]: apiKey, 'content-type': 'application/json' };

function decisionSuite(name: string, path: string, server: RunningServer): Suite {
  return {
    name,
    async run() {
      const file = await vectors(path, decisionFile);
      const results: CaseResult[] = [];
      for (const c of file.evaluation) {
        results.push(await runCase(`${server.baseUrl}/access/v1/evaluation`, evaluationHeaders, c.request, c.expected, judgeEvaluation));
      }
      for (const c of file.evaluations) {
        results.push(await runCase(`${server.baseUrl}/access/v1/evaluations`, evaluationHeaders, c.request, c.expected, judgeEvaluations));
      }
      return results;
    },
  };
}

function searchSuite(name: string, path: string, endpoint: string, server: RunningServer, schema: typeof searchFile | typeof idpFile): Suite {
  return {
    name,
    async run() {
      const file = await vectors(path, schema);
      const cases = 'search' in file ? file.search : file.evaluation;
      const results: CaseResult[] = [];
      for (const c of cases) {
        results.push(await runCase(`${server.baseUrl}/access/v1/search/${endpoint}`, searchHeaders, c.request, c.expected, judgeSearch));
      }
      return results;
    },
  };
}

const placeholderToken = /^<.*>$/;

/** Whether the request's `page.token` is a placeholder for the previous response's next_token. */
function followsPage(request: unknown): request is Record<string, unknown> & { page: Record<string, unknown> } {
  const page = isRecord(request) ? request['page'] : undefined;
  return isRecord(page) && typeof page['token'] === 'string' && placeholderToken.test(page['token']);
}

function nextToken(body: unknown): string | undefined {
  const page = isRecord(body) ? body['page'] : undefined;
  const token = isRecord(page) ? page['next_token'] : undefined;
  return typeof token === 'string' && token !== '' ? token : undefined;
}

/**
 * The certification cases. c-4-5-2 carries the placeholder "<next_token from previous
 * response>": it is replaced by the next_token of the response just before it. When that gave
 * none, the case fails: sending an empty or an older token instead would pass it without
 * following the page it is about.
 */
function certificationSuite(server: RunningServer): Suite {
  return {
    name: 'certification',
    async run() {
      const file = await vectors('certification/certification-1_0-cases.DERIVED.json', certificationFileSchema);
      let previous: unknown;
      const results: CaseResult[] = [];
      for (const c of file.cases) {
        const label = `${c.id} ${c.label}`;
        const before = previous;
        previous = undefined;
        let request = c.request;
        if (followsPage(request)) {
          const token = nextToken(before);
          if (token === undefined) {
            results.push({ passed: false, detail: `${label}: the previous response gave no next_token to follow` });
            continue;
          }
          request = { ...request, page: { ...request.page, token } };
        }
        try {
          const reply = await send(`${server.baseUrl}${c.endpoint}`, c.method, c.headers, request);
          previous = reply.body;
          const failure = judgeCertification(c, reply.status, reply.body);
          results.push({ passed: failure === undefined, detail: `${label}: ${failure ?? 'ok'}; ${clip(request)} → ${reply.status} ${clip(reply.body)}` });
        } catch (error) {
          results.push({ passed: false, detail: `${label}: ERROR ${(error as Error).message}` });
        }
      }
      return results;
    },
  };
}

/**
 * The certification scenario's non-payload checks (transport.ts): media type, malformed and
 * empty bodies, X-Request-ID echo, idempotency, page.limit and discovery.
 */
function transportSuite(server: RunningServer): Suite {
  return {
    name: 'transport',
    async run() {
      const results: CaseResult[] = [];
      for (const check of transportChecks) {
        const label = `${check.id} ${check.label}`;
        try {
          const failure = await check.run(server.baseUrl, { authorization: apiKey });
          results.push({ passed: failure === undefined, detail: `${label}: ${failure ?? 'ok'}` });
        } catch (error) {
          results.push({ passed: false, detail: `${label}: ERROR ${(error as Error).message}` });
        }
      }
      return results;
    },
  };
}

async function main(): Promise<number> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  let passed = 0;
  let failed = 0;
  // Interrupted, take the servers down too rather than leave them listening.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void stopAllServers().finally(() => process.exit(130));
    });
  }
  // Its output closed early (`| head`), likewise, rather than crash and leave them running.
  process.stdout.on('error', () => {
    void stopAllServers().finally(() => process.exit(1));
  });
  try {
    const [interop, certification] = await Promise.all([startServer(repoRoot, interopFixture), startServer(repoRoot, certificationFixture)]);
    const suites: Suite[] = [
      decisionSuite('todo 1_0-01', 'todo/decisions-authorization-api-1_0-01.json', interop),
      decisionSuite('todo 1_0-02', 'todo/decisions-authorization-api-1_0-02.json', interop),
      decisionSuite('api-gateway', 'api-gateway/decisions.json', interop),
      searchSuite('search/subject', 'search/subject/results.json', 'subject', interop, searchFile),
      searchSuite('search/resource', 'search/resource/results.json', 'resource', interop, searchFile),
      searchSuite('search/action', 'search/action/results.json', 'action', interop, searchFile),
      searchSuite('idp', 'idp/results.json', 'resource', interop, idpFile),
      certificationSuite(certification),
      transportSuite(certification),
    ];
    for (const suite of suites) {
      let results: CaseResult[];
      try {
        results = await suite.run();
      } catch (error) {
        out(`FAIL ${suite.name}: cannot run: ${(error as Error).message} (vectors: ${vectorsDir}; set AUTHZEN_VECTORS)`);
        results = [{ passed: false, detail: 'suite did not run' }];
      }
      const bad = results.filter((r) => !r.passed);
      for (const r of bad) out(`FAIL ${suite.name}: ${r.detail}`);
      out(`${suite.name}: ${results.length - bad.length} passed, ${bad.length} failed`);
      passed += results.length - bad.length;
      failed += bad.length;
    }
  } catch (error) {
    out(`FAIL conformance: ${(error as Error).message}`);
    failed += 1;
  } finally {
    await stopAllServers();
  }
  out(`${passed} passed, ${failed} failed`);
  const totalsFile = process.env['TOTALS_FILE'];
  if (totalsFile !== undefined && totalsFile !== '') {
    try {
      await writeFile(totalsFile, `${JSON.stringify({ passed, failed })}\n`);
    } catch (error) {
      out(`FAIL conformance: TOTALS_FILE: ${(error as Error).message}`);
      return 1;
    }
  }
  return failed > 0 || passed === 0 ? 1 : 0;
}

process.exitCode = await main();
