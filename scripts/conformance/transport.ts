import { isRecord } from './certification.js';

/**
 * The certification scenario's `non_payload_checks` that a runner can send: what the transport
 * must do whatever the policy says (media type, malformed and empty bodies, X-Request-ID,
 * idempotency, page.limit, discovery). Each check is one or two plain HTTP exchanges against a
 * server over the certification fixture.
 */

export interface TransportCheck {
  readonly id: string;
  readonly label: string;
  /** Undefined on a pass, else why it failed. */
  run(baseUrl: string, headers: Readonly<Record<string, string>>): Promise<string | undefined>;
}

interface Exchange {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
}

async function exchange(url: string, init: RequestInit): Promise<Exchange> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

function json(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** R1 of the fixture: alice may read record-1. */
const permitted = { subject: { type: 'user', id: 'alice' }, action: { name: 'read' }, resource: { type: 'record', id: 'record-1' } };

/** A request id with spaces and punctuation, as a PEP may well send one. */
const spacedRequestId = 'req 42 / spaces, punctuation & (brackets); "quotes" ok? #1';

const evaluation = '/access/v1/evaluation';

function post(baseUrl: string, headers: Readonly<Record<string, string>>, body: string, extra: Record<string, string> = {}): Promise<Exchange> {
  return exchange(`${baseUrl}${evaluation}`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json', ...extra }, body });
}

const expectStatus = (got: Exchange, wanted: number): string | undefined =>
  got.status === wanted ? undefined : `status ${got.status}, expected ${wanted}: ${got.text.slice(0, 200)}`;

function decisionOf(got: Exchange): boolean | undefined {
  const body = json(got.text);
  return isRecord(body) && typeof body['decision'] === 'boolean' ? body['decision'] : undefined;
}

function pageLimitCheck(limit: number): TransportCheck {
  return {
    id: 'c-4-5',
    label: `page.limit ${limit} accepted`,
    async run(baseUrl, headers) {
      const body = { subject: { type: 'user' }, action: { name: 'read' }, resource: { type: 'record', id: 'record-1' }, page: { limit } };
      const got = await exchange(`${baseUrl}/access/v1/search/subject`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const wrong = expectStatus(got, 200);
      if (wrong !== undefined) return wrong;
      const answer = json(got.text);
      if (!isRecord(answer) || !Array.isArray(answer['results'])) return 'results is not an array';
      const page = answer['page'];
      if (page !== undefined && !(isRecord(page) && typeof page['next_token'] === 'string')) return 'page is not an object with a string next_token';
      return undefined;
    },
  };
}

export const transportChecks: readonly TransportCheck[] = [
  {
    id: 'c-2-4-3',
    label: 'Content-Type other than application/json => 400',
    async run(baseUrl, headers) {
      return expectStatus(await post(baseUrl, headers, JSON.stringify(permitted), { 'content-type': 'text/plain' }), 400);
    },
  },
  {
    id: 'c-2-4-4',
    label: 'malformed JSON body => 400',
    async run(baseUrl, headers) {
      return expectStatus(await post(baseUrl, headers, '{"subject": {"type": "user", "id": "alice"},'), 400);
    },
  },
  {
    id: 'c-2-4-5',
    label: 'empty body => 400',
    async run(baseUrl, headers) {
      return expectStatus(await post(baseUrl, headers, ''), 400);
    },
  },
  {
    id: 'c-2-5-1',
    label: 'X-Request-ID request header echoed verbatim in response',
    async run(baseUrl, headers) {
      const got = await post(baseUrl, headers, JSON.stringify(permitted), { 'x-request-id': spacedRequestId });
      const echoed = got.headers.get('x-request-id');
      if (echoed !== spacedRequestId) return `X-Request-ID ${JSON.stringify(echoed)}, expected ${JSON.stringify(spacedRequestId)}`;
      return expectStatus(got, 200);
    },
  },
  {
    id: 'c-2-5-2',
    label: 'no X-Request-ID => must not fail',
    async run(baseUrl, headers) {
      const got = await post(baseUrl, headers, JSON.stringify(permitted));
      return expectStatus(got, 200) ?? (decisionOf(got) === true ? undefined : `decision ${got.text.slice(0, 200)}, expected true`);
    },
  },
  {
    id: 'c-2-6',
    label: 'same request repeated => same decision',
    async run(baseUrl, headers) {
      const first = await post(baseUrl, headers, JSON.stringify(permitted));
      const second = await post(baseUrl, headers, JSON.stringify(permitted));
      const wrong = expectStatus(first, 200) ?? expectStatus(second, 200);
      if (wrong !== undefined) return wrong;
      const [a, b] = [decisionOf(first), decisionOf(second)];
      return a !== undefined && a === b ? undefined : `decisions ${String(a)} then ${String(b)}`;
    },
  },
  pageLimitCheck(0),
  pageLimitCheck(5000),
  {
    id: 'c-6',
    label: 'discovery: GET /.well-known/authzen-configuration',
    async run(baseUrl) {
      const got = await exchange(`${baseUrl}/.well-known/authzen-configuration`, { method: 'GET' });
      const wrong = expectStatus(got, 200);
      if (wrong !== undefined) return wrong;
      const type = got.headers.get('content-type') ?? '';
      if (!/^application\/json\s*(?:;|$)/i.test(type)) return `content type ${JSON.stringify(type)}, expected application/json`;
      const body = json(got.text);
      if (!isRecord(body)) return 'the body is not a JSON object';
      // The scenario wants https URLs; this runner serves plain HTTP on 127.0.0.1, so it checks
      // the URLs name the server it reached (PUBLIC_URL sets them in production).
      if (body['policy_decision_point'] !== baseUrl) return `policy_decision_point ${JSON.stringify(body['policy_decision_point'])}, expected ${baseUrl}`;
      const endpoint = body['access_evaluation_endpoint'];
      if (typeof endpoint !== 'string' || !endpoint.startsWith(`${baseUrl}/`)) return `access_evaluation_endpoint ${JSON.stringify(endpoint)} is not a URL of ${baseUrl}`;
      return undefined;
    },
  },
];
