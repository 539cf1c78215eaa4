import { expect } from 'vitest';

/** What the service said, read once: status, media type, the text and, for JSON, the parsed body. */
export interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly requestId: string | null;
  readonly text: string;
  readonly body: Record<string, unknown>;
}

/**
 * Reads a response whatever it holds. A body that is not JSON fails the test, except the
 * text of a 200 `text/plain` answer (`GET /metrics`), whose `body` is then empty.
 */
export async function readAnswer(res: Response): Promise<Answer> {
  const text = await res.text();
  const contentType = res.headers.get('content-type') ?? '';
  let body: unknown = {};
  if (res.status !== 200 || !contentType.startsWith('text/plain')) {
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error(`status ${res.status}: body is not JSON: ${text.slice(0, 200)}`);
    }
  }
  return { status: res.status, contentType, requestId: res.headers.get('x-request-id'), text, body: body as Record<string, unknown> };
}

/** The JSON body of a response that must be a 200; any other status fails the test with the text. */
export async function okBody(res: Response): Promise<Record<string, unknown>> {
  const answer = await readAnswer(res);
  expect(answer.status, answer.text).toBe(200);
  return answer.body;
}

/** What a policy test case expects of an answer: its decision, the rules that decided, its reason codes. */
export function expectationOf(answer: { readonly decision: unknown; readonly reasons: unknown }): Record<string, unknown> {
  const reasons = answer.reasons as Record<string, unknown>[];
  return {
    decision: answer.decision,
    rules: reasons.flatMap((r) => ('effect' in r ? [r['rule']] : [])),
    reasons: reasons.flatMap((r) => ('code' in r ? [r['code']] : [])),
  };
}

/** Where a problem's field error points: a JSON path into the body, or a header's name. */
export const fieldPath = /^(?:\$|[A-Z][A-Za-z-]*$)/;

/**
 * The contract every answer keeps: never a 5xx; every 4xx an RFC 9457 problem whose
 * status, request id and JSON paths are consistent. What a 200 holds is each endpoint's own
 * (see answer-readers.ts).
 */
export function expectWellFormed(answer: Answer): void {
  expect(answer.status, answer.text.slice(0, 500)).toBeLessThan(500);
  if (answer.status >= 400) {
    expect(answer.contentType).toBe('application/problem+json');
    expect(answer.body).toMatchObject({ status: answer.status, type: expect.stringMatching(/^urn:invoice-pdp:problem:[a-z_]+$/), title: expect.any(String), detail: expect.any(String) });
    expect(answer.body['requestId']).toBe(answer.requestId);
    const errors = answer.body['errors'];
    if (errors !== undefined) {
      expect(Array.isArray(errors)).toBe(true);
      // A JSON path into the body, or the name of the header at fault.
      for (const error of errors as { path: unknown }[]) expect(error.path).toMatch(fieldPath);
    }
    return;
  }
  expect(answer.status).toBe(200);
}
